"""Finding moved recordings again: search folders for files of a missing recording's size
and hash them (slow: never on the UI thread), then store the new paths
(``project.recordings.set_paths``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from cuewatch.project.recordings import content_hash

if TYPE_CHECKING:
    from cuewatch.project.store import Project


def relocate(project: Project, search_dirs: Sequence[Union[str, os.PathLike]], *,
             actor: Optional[str] = None) -> dict[int, Path]:
    """Find moved recordings again by content hash under ``search_dirs``."""
    missing = {r.sha256: r for r in project.recordings.missing()}
    if not missing:
        return {}
    sizes: dict[int, set[str]] = {}
    for rec in missing.values():
        size = project.recordings.metadata(int(rec.id))["size_bytes"]  # type: ignore[arg-type]
        sizes.setdefault(size, set()).add(rec.sha256)
    found: dict[int, Path] = {}
    for d in search_dirs:
        for root, _dirs, files in os.walk(Path(d).expanduser()):
            for name in files:
                fp = Path(root) / name
                try:
                    size = fp.stat().st_size
                except OSError:
                    continue
                if size not in sizes or project.is_ours(fp):  # never hash a project file
                    continue
                sha = content_hash(fp)
                if sha in missing and sizes[size] and sha in sizes[size]:
                    rec = missing.pop(sha)
                    found[int(rec.id)] = fp.absolute()  # type: ignore[arg-type]
                    sizes[size].discard(sha)
            if not missing:
                break
    project.recordings.set_paths(found, actor=actor)
    return found
