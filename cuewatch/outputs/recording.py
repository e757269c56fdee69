"""The files ``cuewatch analyze`` writes per recording: frames.csv, summary.json, flags.*,
attunement.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from cuewatch.consent.record import Consent
from cuewatch.features.folder import Features, load_features
from cuewatch.files import write_text_atomic
from cuewatch.formats import SUMMARY_JSON_VERSION, THERAPIST_INCONGRUENCE
from cuewatch.outputs.attunement_file import write_attunement_json
from cuewatch.outputs.flags_files import write_flags_csv, write_flags_json
from cuewatch.outputs.frames_csv import write_analysis_frames_csv
from cuewatch.provenance import provenance
from cuewatch.recording.analyse import PipelineResult


def summary_document(result: PipelineResult, consent: Optional[Consent],
                     prov: dict[str, Any], features: Optional[Features] = None) -> dict[str, Any]:
    meta = (features or load_features(result.features_dir)).meta
    return {
        "version": SUMMARY_JSON_VERSION,
        "video": result.info.to_dict() | {"name": result.video.name,
                                          "sha256": meta.get("video_sha256")},
        "analysed_frames": meta.get("analysed_frames"),
        "decoded_frames": meta.get("decoded_frames"),
        "truncated": result.truncated,
        "tracks": [t.to_dict() for t in result.tracks],
        "client": {"speaker": result.client_speaker, "track": result.client_track},
        "therapist": {"speaker": result.therapist_speaker, "track": result.therapist_track},
        "flags": len(result.flags) if result.has_mood else None,
        # the trainee's own congruence: a count, or null with the reason nothing was looked
        # for (a single-person recording is not a congruent trainee)
        "therapist_flags": (sum(f.type == THERAPIST_INCONGRUENCE for f in result.flags)
                            if result.has_mood and not result.therapist_flags_reason else None),
        "therapist_flags_reason": result.therapist_flags_reason if result.has_mood else "",
        "gaps": [g.to_dict() for g in result.gaps],
        "warnings": result.warnings,
        "consent": consent.to_dict() if consent else None,
        "provenance": prov,
    }


def write_recording_outputs(result: PipelineResult, out: Path, consent: Optional[Consent],
                            model_sha256: str) -> list[Path]:
    """Write every per-recording file into ``out``; each file is replaced atomically."""
    out.mkdir(parents=True, exist_ok=True)
    prov = provenance(model_sha256, result.parameters)
    features = load_features(result.features_dir)
    written = [write_analysis_frames_csv(features, out / "frames.csv", result.parameters)]
    summary = out / "summary.json"
    write_text_atomic(summary, json.dumps(summary_document(result, consent, prov, features),
                                          indent=1, default=str))
    written.append(summary)
    if result.has_mood:
        written.append(write_flags_json(out / "flags.json", result.video.name, prov,
                                        result.flags, result.gaps))
        written.append(write_flags_csv(out / "flags.csv", result.flags, prov))
    if result.attunement is not None:
        written.append(write_attunement_json(out / "attunement.json", result.video.name,
                                             result.attunement, result.client_speaker,
                                             result.client_track, prov))
    return written
