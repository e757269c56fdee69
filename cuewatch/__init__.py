"""cuewatch core: from a consented role-play video to incongruence flags.

The core never imports Qt; the desktop app (``cuewatch_ui``) drives it.
"""

__version__ = "0.1.0"
