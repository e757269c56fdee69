"""Atomic output files: a killed export leaves the old file or the whole new one.

A killed export can leave its hidden partial file behind; the next export into that
folder removes it (``remove_stale_partials``, called by every exporter's ``prepare``).

Writing to a temporary name in the same folder and renaming it into place also means a
symlink planted at the target name is replaced, not followed out of the export folder.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from cuewatch.errors import CuewatchError

#: a file being written: hidden, and named after the process writing it, so a later export
#: can tell a killed writer's leftover from a file another export is writing right now.
PARTIAL_NAME = re.compile(r"^\..+\.(?P<pid>\d+)\.partial(\.[A-Za-z0-9]+)?$")


def partial_path(target: Path, pid: int) -> Path:
    return target.with_name(f".{target.stem[:40]}.{pid}.partial{target.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or not a pid we can ask about): leave it
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete the partial files in ``folder`` left by exports that were killed (their
    process is gone); returns what was removed. Files of running exports stay."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = PARTIAL_NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        if _alive(int(match["pid"])):  # this process too: another thread may be writing it
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``."""
    target = Path(target)
    tmp = partial_path(target, os.getpid())
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
