"""Export a project: consent checked, bundles gathered from the store, files remembered.

``cuewatch export`` and the app both call ``export_project``. Consent is decided here,
before any exporter runs (``cuewatch.consent.policy``); the exporters in
``cuewatch.exports`` take plain domain objects and never open the store. Every file
written is recorded in the project against the recordings it holds, so that revoking a
recording's consent deletes the clips and tables cuewatch knows it exported.

Threads: call from a worker thread (clips and html take seconds to minutes).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from cuewatch.consent.policy import THERAPIST_OWN_PARTS, require_purpose, therapist_flags_allowed
from cuewatch.errors import ConsentError, CuewatchError, CuewatchWarning, ProjectError
from cuewatch.exports import ExportBundle, run_export, unique_labels
from cuewatch.flags.agreement import agreement_from_reviews, project_agreement, tool_verdicts
from cuewatch.formats import THERAPIST_FLAGS_LEFT_OUT_KEY, THERAPIST_INCONGRUENCE
from cuewatch.progress import Progress
from cuewatch.project.store import Project
from cuewatch.provenance import provenance

#: expression spans shorter than this (seconds) are merged into their neighbours' gap.
MIN_EXPRESSION_SPAN_S = 0.4
#: frames seen less confidently than this do not count towards an expression span.
MIN_EXPRESSION_CONFIDENCE = 0.3


def expression_spans(timestamps: np.ndarray, labels: Sequence[str], confidence: np.ndarray,
                     min_duration: float = MIN_EXPRESSION_SPAN_S,
                     min_confidence: float = MIN_EXPRESSION_CONFIDENCE,
                     max_gap_s: float = 0.5) -> list[tuple[float, float, str]]:
    """Runs of one dominant expression: (start, end, category), for timelines and ELAN."""
    spans: list[tuple[float, float, str]] = []
    start = end = 0.0
    current: Optional[str] = None  # the label of the run that ends at ``end``
    for t, seen, c in zip(np.asarray(timestamps, float), labels, np.asarray(confidence, float)):
        label = seen if c >= min_confidence else None
        if label == current and label is not None and t - end <= max_gap_s:
            end = t
            continue
        if current is not None and end - start >= min_duration:
            spans.append((float(start), float(end), current))
        current, start, end = label, float(t), float(t)
    if current is not None and end - start >= min_duration:
        spans.append((float(start), float(end), current))
    return spans


def _client_expression(features_dir: Path, client_track: Optional[int],
                       neutral_span: Optional[tuple[float, float]] = None) -> tuple[Any, Any]:
    """Expression spans and the valence curve of the client's face (read against its
    marked neutral span, if any), or (None, None)."""
    if client_track is None:
        return None, None
    from cuewatch.expression.cache import track_expression
    from cuewatch.features.folder import is_complete, load_features

    if not is_complete(features_dir):
        return None, None
    features = load_features(features_dir)
    if client_track not in features.tracks or len(features.tracks[client_track]) == 0:
        return None, None
    series = track_expression(features, client_track, neutral_span)
    spans = expression_spans(series.timestamps, series.dominant_names(), series.confidence)
    return spans, (np.asarray(series.timestamps), np.asarray(series.valence))


def gather_bundle(project: Project, recording_id: int, *, with_expression: bool = True) -> ExportBundle:
    """Everything the exporters need about one recording, from the store."""
    rec = project.recordings.get(recording_id)
    analysis = project.analyses.latest(recording_id)
    if analysis is None:
        raise ProjectError(f"recording {recording_id} ({Path(rec.path).name}) has not been "
                           f"analysed yet (run: cuewatch project analyze {project.path})")
    try:
        media = project.recordings.locate(recording_id)
    except ProjectError:
        media = Path(rec.path)  # tables still export; clips will say the video is missing
    client_track = project.recordings.client_track(recording_id)
    therapist_speaker, therapist_track = project.attunement.therapist(recording_id)
    neutral = project.recordings.neutral_span(recording_id, client_track)
    # the marked neutral spans: the client's enters the rules' provenance, each track's
    # reads that track's expression (frames export)
    spans = project.recordings.neutral_spans(recording_id)
    prov = provenance(analysis.model_sha256, {
        **analysis.parameters, "neutral_span": list(neutral) if neutral else None,
        "neutral_spans": {str(k): list(v) for k, v in sorted(spans.items())}})
    prov.update(recording_sha256=rec.sha256, analysis_id=analysis.id,
                analysed_by=analysis.cuewatch_version, project=project.path.name)
    features_dir = analysis.features_dir if analysis.features_dir and analysis.features_dir.is_dir() else None
    expr_spans = curve = None
    if with_expression and features_dir is not None:
        expr_spans, curve = _client_expression(features_dir, client_track, neutral)
    return ExportBundle(
        recording=rec, media_path=media, provenance=prov,
        segments=project.analyses.mood_segments(recording_id),
        client_speaker=project.recordings.client_speaker(recording_id),
        flags=project.flags.all(recording_id), orphaned=project.flags.orphaned(recording_id),
        gaps=project.flags.gaps(recording_id),
        reviews=project.reviews.all(recording_id=recording_id, superseded=True),
        annotations=[replace(a, recording_id=None, created="")
                     for a in project.annotations.all(recording_id)],
        expression_spans=expr_spans, valence_curve=curve, features_dir=features_dir,
        client_track=client_track,
        agreement=project_agreement(project, recording_id).to_dict(),
        responses=project.attunement.responses(recording_id),
        synchrony=project.attunement.synchrony(recording_id),
        synchrony_document=project.attunement.synchrony_document(recording_id),
        therapist_speaker=therapist_speaker, therapist_track=therapist_track)


def therapist_part_for(project: Project, bundle: ExportBundle, recording_id: int,
                       purpose: Optional[str]) -> ExportBundle:
    """``bundle`` as an export for ``purpose`` may carry it: without the therapist's own
    part (``cuewatch.consent.policy.THERAPIST_OWN_PARTS``) unless the consent policy allows
    it (``therapist_flags_allowed``). Left out: the therapist's congruence flags and their
    verdicts; the therapist's face track from the per-frame data (``left_out_tracks``);
    the synchrony (z, lag, over time: kept only as its reason) and each response's
    mirroring. The trainee's word-based responses stay (see the policy). The provenance
    names what was left out and why, naming no one, so a reader never takes an absence for
    a congruent trainee or a therapist off camera."""
    allowed, why = therapist_flags_allowed(project.consents.get(recording_id), purpose)
    if allowed:
        return bundle
    out = {f.id for f in bundle.flags + bundle.orphaned if f.type == THERAPIST_INCONGRUENCE}
    prov = {**bundle.provenance, THERAPIST_FLAGS_LEFT_OUT_KEY:
            f"left out of this {purpose} export: {'; '.join(THERAPIST_OWN_PARTS)}. "
            f"Why: {why}"}
    flags = [f for f in bundle.flags if f.type != THERAPIST_INCONGRUENCE]
    agreement = agreement_from_reviews(   # as project_agreement, over the flags that go out
        [r for r in project.reviews.all(recording_id=recording_id) if r.flag_id not in out],
        [int(f.id) for f in flags if f.id is not None], True, tool_verdicts(flags)).to_dict()
    reason = f"left out: {why}"
    responses = {fid: replace(r, mirroring=None, mirroring_reason=reason)
                 for fid, r in bundle.responses.items()}
    synchrony = (None if bundle.synchrony is None else
                 replace(bundle.synchrony, z=None, lag_s=None, leader=None, statistic=None,
                         over_time=(), reason=reason))
    tracks = tuple(t for t in (bundle.therapist_track,) if t is not None)
    return replace(bundle, provenance=prov, flags=flags, agreement=agreement,
                   orphaned=[f for f in bundle.orphaned if f.type != THERAPIST_INCONGRUENCE],
                   reviews=[r for r in bundle.reviews if r.flag_id not in out],
                   responses=responses, synchrony=synchrony,
                   synchrony_document=None if bundle.synchrony_document is None
                   else {"left_out": reason},
                   left_out_tracks=bundle.left_out_tracks + tracks)


def _owners(files: Sequence[Path], out_dir: Path, labels: Sequence[str],
            ids: Sequence[int]) -> list[tuple[Path, list[int]]]:
    """Which recordings each written file holds: its label in the name, else all of them."""
    out = []
    for f in files:
        try:
            parts = Path(f).resolve().relative_to(out_dir.resolve()).parts
        except ValueError:
            parts = (Path(f).name,)
        owners = [rid for rid, label in zip(ids, labels)
                  if any(p == label or p.startswith(label + ".") or p.startswith(label + "_")
                         or p.startswith(label + "-") for p in parts)]
        out.append((Path(f), owners or list(ids)))
    return out


def export_project(project_path: Union[str, os.PathLike], fmt: str, out_dir: Union[str, os.PathLike],
                   *, purpose: Optional[str] = None, anonymise: bool = False,
                   recordings: Optional[Sequence[Union[int, str]]] = None,
                   progress: Optional[Progress] = None, actor: Optional[str] = None,
                   include_notes: bool = False, keep_audio: bool = False,
                   **options: Any) -> list[Path]:
    """Export the chosen (default: all analysed) recordings in format ``fmt``.

    Refused as a whole, with one clear line, without a ``purpose`` (where the format needs
    one: ``cuewatch.consent.policy.require_purpose``) or if any chosen recording's consent
    does not cover it (``None``, where allowed: training or supervision). ``include_notes``
    keeps the free-text notes in an anonymised export; ``keep_audio`` the sound of
    anonymised clips.
    """
    if keep_audio:
        if fmt != "clips":
            raise CuewatchError(f"--keep-audio is for clips only, not --format {fmt}")
        options["keep_audio"] = True
    require_purpose(fmt, purpose)
    progress = progress or Progress()
    out = Path(out_dir).expanduser().absolute()
    with Project.open(project_path, actor=actor) as project:
        if recordings:
            ids = [int(project.recordings.find(r).id) for r in recordings]  # type: ignore[arg-type]
        else:
            ids = [int(r.id) for r in project.recordings.all()  # type: ignore[arg-type]
                   if project.analyses.latest(int(r.id)) is not None]  # type: ignore[arg-type]
            if not ids:
                raise ProjectError(f"{project.path.name}: nothing analysed to export yet")
        refused = []
        for rid in ids:
            try:
                project.consents.require_export(rid, purpose)
            except ConsentError as exc:
                refused.append(str(exc))
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise ConsentError(f"export refused: {refused[0]}{more}; choose recordings with "
                               "--recording, or another --purpose")
        with_expression = fmt in ("eaf", "boris", "html", "json")
        bundles = [gather_bundle(project, rid, with_expression=with_expression) for rid in ids]
        bundles = [therapist_part_for(project, b, rid, purpose) for b, rid in zip(bundles, ids)]
        if project.read_only is not None:  # nothing can be recorded: say what that means
            warnings.warn(CuewatchWarning(
                f"this export is not recorded in the read-only project {project.path.name}: "
                f"revoking consent there will not find the files in {out}"), stacklevel=2)
            return run_export(fmt, bundles, out, anonymise=anonymise, progress=progress, **options)
        pending = project.exports.begin(out, format=fmt, purpose=purpose or "unstated",
                                        recording_ids=ids)
        files = run_export(fmt, bundles, out, anonymise=anonymise, include_notes=include_notes,
                           progress=progress, **options)
        labels = unique_labels(bundles, anonymise)
        by_recording: dict[int, list[Path]] = {}
        for path, owners in _owners(files, out, labels, ids):
            for rid in owners:
                by_recording.setdefault(rid, []).append(path)
        for rid, note in zip(ids, pending):
            project.exports.record(by_recording.get(rid, []), format=fmt,
                                   purpose=purpose or "unstated", recording_id=rid, pending=[note])
        project.audit.log("export_done", {"format": fmt, "purpose": purpose, "anonymise": anonymise,
                                          "include_notes": include_notes, "keep_audio": keep_audio,
                                          "recordings": ids, "files": len(files), "out": str(out)})
        return files

