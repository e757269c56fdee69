"""cuewatch desktop app (PySide6). Drives the core; holds no analysis logic of its own."""
