"""``cuewatch export --format json``: flags with verdicts, notes and evidence, as JSON.

One ``LABEL.flags.json`` per recording (``FLAGS_EXPORT_JSON_VERSION``)::

    {"format": "cuewatch-flags-export", "version": 1, "provenance": {...},
     "recording": {...}, "client_speaker": str | null,
     "flags": [{"key": str, <Flag.to_dict()>, "reviews": [current verdicts],
                "review_history": [replaced verdicts]}],
     "gaps": [...], "annotations": [...], "segments": [...],
     "expression_spans": [...] | null, "agreement": {...} | null,
     "orphaned_verdicts": [{"key": str, <Flag.to_dict()> with "raised": false,
                            "status": ORPHANED_STATUS, "reviews": [...],
                            "review_history": [...]}],
     "attunement": {"therapist": {"speaker", "track"}, "summary": {...},
                    "synchrony": {...}} | null}

``orphaned_verdicts``: verdicts on a moment a recompute no longer flags, kept with it.
Each raised flag has a "response" (``formats.FLAGS_EXPORT_RESPONSE_KEYS``, null without
one): the trainee's response kind, evidence, latency, deciding turn and the mirroring
verdict. "attunement" (``formats.FLAGS_EXPORT_ATTUNEMENT_KEYS``; null when never
computed): who the therapist is, the session summary, and the session synchrony as
attunement.json has it (with its settings).

Strict JSON: NaN and infinities become null, numpy values plain numbers.
"""

from __future__ import annotations

import json as _json
import math
from pathlib import Path
from typing import Any, Optional

from cuewatch.attunement.summary import summary_dict
from cuewatch.exports import ExportBundle, per_recording
from cuewatch.exports.describe import response_record
from cuewatch.exports.naming import path_in
from cuewatch.files import write_text_atomic
from cuewatch.flags.matching import ORPHANED_STATUS
from cuewatch.formats import FLAGS_EXPORT_ATTUNEMENT_KEYS
from cuewatch.progress import Progress

FLAGS_EXPORT_JSON_FORMAT = "cuewatch-flags-export"
FLAGS_EXPORT_JSON_VERSION = 2
#: Top-level keys, in order (v2: "attunement").
FLAGS_EXPORT_JSON_KEYS: tuple[str, ...] = (
    "format", "version", "provenance", "recording", "client_speaker", "flags", "gaps",
    "annotations", "segments", "expression_spans", "agreement", "orphaned_verdicts",
    "attunement",
)


def plain(value: Any) -> Any:
    """``value`` as strict-JSON data: NaN/inf -> None, numpy -> Python, tuples -> lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return plain(value.tolist())
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def bundle_document(bundle: ExportBundle, label: str, anonymise: bool) -> dict[str, Any]:
    """The JSON document of one recording (also what the HTML report is built from)."""
    rec = bundle.recording
    recording: dict[str, Any] = {"label": label, "sha256": rec.sha256, "duration": rec.duration,
                 "fps": rec.fps, "width": rec.width, "height": rec.height, "id": rec.id}
    if not anonymise:
        recording["path"] = rec.path
    flags: list[dict[str, Any]] = []
    orphaned: list[dict[str, Any]] = []
    for key, flag, into in ([(bundle.flag_key(i), f, flags) for i, f in enumerate(bundle.flags)]
                            + [(str(f.id), f, orphaned) for f in bundle.orphaned]):
        d: dict[str, Any] = {"key": key}
        d.update(flag.to_dict())
        if not flag.raised:
            d["status"] = ORPHANED_STATUS
        d["reviews"] = [r.to_dict() for r in bundle.current_reviews(flag)]
        d["review_history"] = [r.to_dict() for r in bundle.review_history(flag)]
        if flag.raised:
            d["response"] = response_record(bundle.response(flag))
        into.append(d)
    segments = []
    for seg in sorted(bundle.segments, key=lambda s: s.start):
        d = seg.to_dict()
        d["speaker"] = bundle.speaker_label(seg.speaker, anonymise)
        d["client"] = bundle.is_client(seg)
        segments.append(d)
    spans = None
    if bundle.expression_spans is not None:
        spans = [{"start": s, "end": e, "category": c} for s, e, c in bundle.expression_spans]
    doc = {
        "format": FLAGS_EXPORT_JSON_FORMAT,
        "version": FLAGS_EXPORT_JSON_VERSION,
        "provenance": bundle.provenance,
        "recording": recording,
        "client_speaker": (bundle.speaker_label(bundle.client_speaker, anonymise)
                           if bundle.client_speaker is not None else None),
        "flags": flags,
        "gaps": [g.to_dict() for g in bundle.gaps],
        "annotations": [a.to_dict() for a in bundle.annotations],
        "segments": segments,
        "expression_spans": spans,
        "agreement": bundle.agreement,
        "orphaned_verdicts": orphaned,
        "attunement": _attunement(bundle, anonymise),
    }
    return plain(doc)


def _attunement(bundle: ExportBundle, anonymise: bool) -> Optional[dict[str, Any]]:
    if not bundle.has_attunement():
        return None
    speaker = (bundle.speaker_label(bundle.therapist_speaker, anonymise)
               if bundle.therapist_speaker is not None else None)
    summary = summary_dict(bundle.attunement_summary())
    summary["therapist_speaker"] = speaker
    values = ({"speaker": speaker, "track": bundle.therapist_track}, summary,
              bundle.synchrony_document)
    return dict(zip(FLAGS_EXPORT_ATTUNEMENT_KEYS, values))


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None) -> list[Path]:
    """Write ``LABEL.flags.json`` per recording."""

    def write_one(bundle: ExportBundle, label: str, out_dir: Path) -> list[Path]:
        doc = bundle_document(bundle, label, anonymise)
        text = _json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        return [write_text_atomic(path_in(out_dir, f"{label}.flags.json"), text)]
    return per_recording("json", bundles, out_dir, anonymise, progress, write_one)
