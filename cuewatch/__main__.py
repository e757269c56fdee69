import sys

from cuewatch.cli import main

sys.exit(main())
