"""Atomic output files: a killed export leaves the old file or the whole new one.

Writing to a temporary name in the same folder and renaming it into place also means a
symlink planted at the target name is replaced, not followed out of the export folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from cuewatch.errors import CuewatchError


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``."""
    target = Path(target)
    tmp = target.with_name(f".{target.stem[:40]}.{os.getpid()}.partial{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise CuewatchError(f"export produced no file for {target.name}")
        os.replace(tmp, target)
    except OSError as exc:
        raise CuewatchError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(target: Path, text: str) -> Path:
    """Write UTF-8 text (no newline translation) atomically; returns ``target``."""
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def write_bytes_atomic(target: Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)
