"""File names for exported files, made safe from labels, speaker and recording names.

Recording names, speaker names and labels come from users and from file systems we do
not control. Every exported file name goes through ``safe_filename`` and every path
through ``path_in``, so nothing an export writes can land outside its folder, whatever
the name says ("../../etc/passwd", "/abs/path", "C:\\x", NUL, "CON", 10 000 characters).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from cuewatch.errors import CuewatchError

#: Longest file name we produce, in UTF-8 bytes (common file systems allow 255).
MAX_NAME_BYTES = 120

# Windows refuses these as a file's stem, with or without an extension, in any case.
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"]
    + [f"COM{i}" for i in "123456789¹²³"]
    + [f"LPT{i}" for i in "123456789¹²³"]
)
# Path separators, characters Windows forbids, and control characters (NUL included).
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"_{2,}")


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def safe_filename(name: str, suffix: str = "", *, default: str = "export",
                  max_bytes: int = MAX_NAME_BYTES) -> str:
    """One path component, safe on Linux, macOS and Windows, made from ``name``.

    ``suffix`` (such as ".csv") is kept whole after truncation. The result never
    contains a separator, never starts with a dot, never ends in a dot or a space, is
    never a Windows reserved device name, and is never empty.
    """
    text = unicodedata.normalize("NFC", str(name))
    text = _FORBIDDEN.sub("_", text)
    text = _SPACES.sub(" ", text).strip()
    text = _REPEATS.sub("_", text)
    text = text.lstrip(". ").rstrip(". ")
    suffix = _FORBIDDEN.sub("_", suffix)
    budget = max(8, max_bytes - len(suffix.encode("utf-8")))
    text = _truncate_utf8(text, budget).rstrip(". ")
    if not text or set(text) <= {"_", "-", " "}:
        text = default
    stem = text.split(".", 1)[0].strip().upper()
    if stem in _WINDOWS_RESERVED:
        text = "_" + text
    return text + suffix


def path_in(out_dir: Path, *parts: str) -> Path:
    """``out_dir`` joined with already-safe ``parts``; refuses anything that would leave it."""
    base = Path(out_dir).resolve()
    target = base.joinpath(*parts).resolve()
    if target == base or base not in target.parents:
        raise CuewatchError(f"refusing to write outside the export folder: {target}")
    return target


class NameAllocator:
    """Hands out distinct safe file names within one export folder.

    Two recordings called "session.mp4" in different folders must not overwrite each
    other's exports; names are compared case-insensitively (macOS, Windows).
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, name: str, suffix: str = "", *, default: str = "export") -> str:
        # leave room for "-NN" so a long name cannot truncate its counter away
        room = MAX_NAME_BYTES - len(suffix.encode("utf-8")) - 8
        base = safe_filename(name, "", default=default, max_bytes=room)
        candidate = safe_filename(base, suffix, default=default)
        n = 2
        while candidate.casefold() in self._taken:
            candidate = safe_filename(f"{base}-{n}", suffix, default=default)
            n += 1
        self._taken.add(candidate.casefold())
        return candidate
