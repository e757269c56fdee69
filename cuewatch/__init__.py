"""cuewatch core: from a consented role-play video to incongruence flags.

The core never imports Qt; the desktop app (``cuewatch_ui``) drives it.

``__version__`` moves whenever what cuewatch computes or writes changes: a stage's
revision (``FACE_PASS_REVISION``, ``EXPRESSION_REVISION``), a rule number (the rules
hash, ``cuewatch.rules``), a file format, or flag behaviour. Every export carries it.
"""

__version__ = "0.2.1"
