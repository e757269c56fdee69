"""``flags.json`` and ``flags.csv``: the flags of one recording, with provenance.

flags.csv is plain CSV (the header first); its provenance is in ``flags.csv.provenance.json``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cuewatch.domain import Flag, Gap
from cuewatch.files import atomic_path, write_text_atomic
from cuewatch.formats import FLAGS_CSV_COLUMNS, FLAGS_JSON_VERSION


def flags_document(video: str, provenance: dict[str, Any], flags: Sequence[Flag],
                   gaps: Sequence[Gap]) -> dict[str, Any]:
    return {"version": FLAGS_JSON_VERSION, "video": video, "provenance": provenance,
            "flags": [f.to_dict() for f in flags], "gaps": [g.to_dict() for g in gaps]}


def write_flags_json(path: Path, video: str, provenance: dict[str, Any], flags: Sequence[Flag],
                     gaps: Sequence[Gap]) -> Path:
    write_text_atomic(path, json.dumps(flags_document(video, provenance, flags, gaps), indent=1))
    return path


def flag_csv_row(flag: Flag, number: int) -> list[Any]:
    aus = flag.evidence.get("aus") or {}
    au_text = " ".join(f"{k}={v:.2f}" if isinstance(v, (int, float)) else str(k) for k, v in
                       (aus.items() if isinstance(aus, dict) else ((a, "") for a in aus)))
    return [flag.id if flag.id is not None else number, f"{flag.start:.3f}", f"{flag.end:.3f}",
            flag.type, "" if flag.track is None else flag.track,
            flag.stated.get("words", ""), flag.stated.get("category") or "",
            "" if flag.stated.get("valence") is None else f"{flag.stated['valence']:.2f}",
            flag.expressed.get("category") or "",
            "" if flag.expressed.get("valence") is None else f"{flag.expressed['valence']:.2f}",
            f"{flag.severity:.2f}", f"{flag.confidence:.2f}",
            "" if flag.evidence.get("peak_time") is None else f"{flag.evidence['peak_time']:.3f}",
            au_text, flag.stated.get("speaker") or ""]


def write_flags_csv(path: Path, flags: Sequence[Flag], provenance: dict[str, Any]) -> Path:
    """Write flags.csv and its provenance sidecar; returns the CSV's path."""
    from cuewatch.provenance import write_provenance_sidecar

    write_provenance_sidecar(path, provenance, description="cuewatch analyze flags.csv")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(FLAGS_CSV_COLUMNS)
        for n, flag in enumerate(flags, 1):
            w.writerow(flag_csv_row(flag, n))
    return path
