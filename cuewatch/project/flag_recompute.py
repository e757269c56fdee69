"""Recompute a project recording's flags with other flag settings, keeping every verdict.

One path for ``cuewatch project flags`` and the app's Sensitivity control: the flags are
cut again from the stored features (no face pass, ``cuewatch.recording.analyse.recompute_flags``)
and stored with ``project.flags.replace``, which keeps every verdict and note with its
moment (``cuewatch.flags.matching``). The settings become the recording's flag settings
(what the app shows and exports state as provenance).

``mark_neutral`` is the one path for ``cuewatch project neutral`` and the app's "Mark as
neutral": the span is checked against the stored face, stored, and the flags cut again
with it.

Threads: call from a worker thread with a ``Project`` opened in that thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from cuewatch.errors import ProjectError
from cuewatch.options import FlagSettings
from cuewatch.project.store import Project


@dataclass
class RecomputeSummary:
    """What a recompute did to one recording's flags and the verdicts on them."""

    recording_id: int
    name: str
    settings: FlagSettings
    flags: int               # flags raised now
    kept: int                # of them, flags that were raised before (same ids, verdicts)
    new: int
    reattached: int          # flags raised again, with their orphaned verdicts
    verdicts_reattached: int
    retired: int             # flags no longer raised whose verdicts are kept (orphaned)
    verdicts_orphaned: int   # verdicts that became orphaned now
    removed: int             # unjudged flags no longer raised
    orphaned_total: int      # orphaned verdicts standing after the recompute

    def line(self) -> str:
        return (f"recording {self.recording_id} ({self.name}): {self.flags} flag(s) raised at "
                f"{self.settings.sensitivity} sensitivity ({self.kept} kept, {self.new} new, "
                f"{self.reattached} raised again); {self.removed} unjudged flag(s) removed; "
                f"verdicts: {self.verdicts_orphaned} orphaned (flag no longer raised), "
                f"{self.verdicts_reattached} re-attached, {self.orphaned_total} orphaned in all, "
                "none deleted")

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["settings"] = self.settings.to_dict()
        return d


def recompute_recording_flags(project: Project, recording_id: int, flag_settings: FlagSettings,
                              *, actor: Optional[str] = None) -> RecomputeSummary:
    """Cut the recording's flags again with ``flag_settings``, and the trainee's responses
    and mirroring for the new flags (``project.attunement``); refused (one clear line) if
    it has not been analysed, its features are gone, or consent no longer covers it.

    A recording analysed before attunement was stored gains it here: the therapist is
    chosen (as the user named them, else the other person) and the session synchrony
    computed once; afterwards only the per-flag measures are recomputed."""
    from cuewatch.recording.analyse import TherapistChoice, recompute_session

    rid = int(recording_id)
    rec = project.recordings.get(rid)
    name = Path(rec.path).name
    project.consents.require_analysis(rid)
    features_dir = project.analyses.features_dir(rid)
    if project.analyses.latest(rid) is None or features_dir is None:
        raise ProjectError(f"recording {rid} ({name}) has not been analysed yet "
                           f"(run: cuewatch project analyze {project.path})")
    client_track = project.recordings.client_track(rid)
    speaker, track = project.attunement.therapist(rid)
    if project.attunement.computed(rid):
        therapist = TherapistChoice(speaker=speaker, track=track, known=True)
    else:
        meta = project.recordings.metadata(rid)
        therapist = TherapistChoice(speaker=meta.get("therapist_speaker"),
                                    face=meta.get("therapist_face") or "auto")
    flags, gaps, attunement = recompute_session(
        features_dir, project.analyses.mood_segments(rid), project.recordings.client_speaker(rid),
        client_track, flag_settings, neutral_span=project.recordings.neutral_span(rid),
        therapist=therapist)
    stats = project.flags.replace(rid, flags, gaps, flag_settings=flag_settings,
                                  attunement=attunement, actor=actor)
    return RecomputeSummary(
        recording_id=rid, name=name, settings=flag_settings, flags=stats["flags"],
        kept=stats["flags_kept"], new=stats["flags_new"], reattached=stats["flags_reattached"],
        verdicts_reattached=stats["verdicts_reattached"], retired=stats["flags_retired"],
        verdicts_orphaned=stats["verdicts_orphaned"], removed=stats["flags_removed"],
        orphaned_total=len(project.reviews.all(recording_id=rid, orphaned=True)))


@dataclass
class NeutralChange:
    """What marking (or clearing) a neutral span did."""

    recording_id: int
    track: int
    span: Optional[tuple[float, float]]   # None: cleared, the automatic neutral applies
    recompute: Optional[RecomputeSummary]  # None: not the client's face, or not analysed

    def line(self) -> str:
        what = (f"neutral face of track {self.track} marked at {self.span[0]:g}-{self.span[1]:g} s"
                if self.span else f"neutral face of track {self.track}: found automatically again")
        done = f"; {self.recompute.line()}" if self.recompute else ""
        return f"recording {self.recording_id}: {what}{done}"


def mark_neutral(project: Project, recording_id: int, span: Optional[tuple[float, float]], *,
                 track: Optional[int] = None, actor: Optional[str] = None) -> NeutralChange:
    """Store ``span`` as the neutral face of ``track`` (default: the client's), or clear it
    (``span`` None), and recompute the flags if that face is the client's. A span where
    the stored features never see that face is refused before anything is stored."""
    from cuewatch.features.folder import is_complete, load_features

    rid = int(recording_id)
    features_dir = project.analyses.features_dir(rid)
    if span is None:
        tid = track if track is not None else project.recordings.client_track(rid)
        if tid is None or not project.recordings.clear_neutral(rid, track=tid, actor=actor):
            raise ProjectError(f"recording {rid}: no neutral span marked"
                               + (f" for track {tid}" if tid is not None else ""))
    else:
        start, end = float(span[0]), float(span[1])
        if features_dir is not None and is_complete(features_dir):
            features = load_features(features_dir)
            tid = track if track is not None else project.recordings.client_track(rid)
            if tid is not None:
                if int(tid) not in features.tracks:
                    raise ProjectError(f"recording {rid} has no face track {tid} (tracks: "
                                       f"{', '.join(map(str, sorted(features.tracks))) or 'none'})")
                t = features.tracks[int(tid)].timestamp
                if not ((t >= start) & (t <= end)).any():
                    raise ProjectError(f"the face of track {tid} is not seen in {start:g}-{end:g} s: "
                                       "mark a span where the face is visible")
        tid = project.recordings.set_neutral(rid, start, end, track=track, actor=actor)
    summary = None
    latest = project.analyses.latest(rid)
    if (latest is not None and features_dir is not None
            and int(tid) == project.recordings.client_track(rid)):
        summary = recompute_recording_flags(project, rid, latest.flag_settings, actor=actor)
    return NeutralChange(rid, int(tid), (float(span[0]), float(span[1])) if span else None, summary)
