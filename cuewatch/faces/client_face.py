"""Whose words and whose face are the client's.

Only the client's stated mood is compared with the client's face; a therapist's "that
sounds hard" must never be read as the client's mood. This module picks the client's
speaker label in a transcript (``--client-speaker``) and the client's face track
(``--client-face auto|left|right|largest|ID``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

import numpy as np

from cuewatch.domain import MoodSegment, speaker_key
from cuewatch.errors import TranscriptError
from cuewatch.formats import BLENDSHAPE_NAMES

if TYPE_CHECKING:
    from cuewatch.features.folder import Features, TrackFeatures

#: The speaker name used when none is requested (matched case-insensitively).
DEFAULT_CLIENT_NAME = "Client"
#: Other role names that mean the client, and names that mean the person in the chair
#: opposite: without --client-speaker, a transcript labelled "Patient" / "Therapist", or
#: "Therapist" / "Sam", still has one obvious client.
CLIENT_ROLE_NAMES = (DEFAULT_CLIENT_NAME.casefold(), "patient")
CLINICIAN_ROLE_NAMES = ("therapist", "counsellor", "counselor", "trainee", "clinician",
                        "interviewer", "psychologist", "psychotherapist", "doctor", "dr",
                        "supervisor", "practitioner")


def speakers(segments: Sequence[MoodSegment]) -> list[str]:
    """Speaker names in order of first appearance (unlabelled segments left out)."""
    seen: dict[str, None] = {}
    for seg in segments:
        if seg.speaker:
            seen.setdefault(seg.speaker, None)
    return list(seen)


def choose_client_speaker(segments: Sequence[MoodSegment], requested: Optional[str] = None) -> Optional[str]:
    """The transcript's name for the client, as spelled in the transcript.

    ``requested`` (from --client-speaker) must match a speaker, ignoring case and spacing.
    Without it: a speaker named Client (or Patient); else a sole speaker "Client
    <something>"; else the only speaker there is; else the one speaker not named as a
    clinician (Therapist, Counsellor, Trainee, ...). Returns None when no segment
    has a speaker label (every segment is then the client's, as in a mood file without a
    speaker column). Raises TranscriptError listing the speakers when the choice is
    missing or ambiguous.
    """
    names = speakers(segments)
    listed = ", ".join(names) if names else "none"
    if requested is not None and requested.strip():
        want = speaker_key(requested)
        for name in names:
            if speaker_key(name) == want:
                return name
        if not names:
            raise TranscriptError(
                f"client speaker {requested!r} not found: the transcript has no speaker labels"
            )
        raise TranscriptError(
            f"client speaker {requested!r} not found; speakers in the transcript: {listed}"
        )
    if not names:
        return None
    for role in CLIENT_ROLE_NAMES:
        exact = [n for n in names if speaker_key(n) == role]
        if exact:
            return exact[0]
        prefixed = [n for n in names if speaker_key(n).split(" ")[0] == role]
        if len(prefixed) == 1:
            return prefixed[0]
    if len(names) == 1:
        return names[0]
    others = [n for n in names if speaker_key(n).split(" ")[0].rstrip(".") not in CLINICIAN_ROLE_NAMES]
    if len(others) == 1:
        return others[0]
    raise TranscriptError(
        f"no speaker named {DEFAULT_CLIENT_NAME}; choose one with --client-speaker NAME "
        f"(speakers: {listed})"
    )


def client_segments(segments: Sequence[MoodSegment], speaker: Optional[str]) -> list[MoodSegment]:
    """The segments spoken by the client (all of them when ``speaker`` is None)."""
    return [s for s in segments if s.is_clients(speaker)]


# --- whose face ----------------------------------------------------------------------

#: a track seen in less than this share of analysed frames is not a candidate person.
MIN_FACE_COVERAGE = 0.2
_JAW_OPEN = BLENDSHAPE_NAMES.index("jawOpen")
_LOWER_DOWN = (BLENDSHAPE_NAMES.index("mouthLowerDownLeft"), BLENDSHAPE_NAMES.index("mouthLowerDownRight"))


def mouth_activity(track: TrackFeatures, start: float, end: float) -> Optional[float]:
    """How much the mouth moves in [start, end]: spread of mouth opening, None if unseen."""
    a, b = np.searchsorted(track.timestamp, [start, end])
    if b - a < 3:
        return None
    bs = np.asarray(track.blendshapes[a:b], dtype=np.float32)
    opening = bs[:, _JAW_OPEN] + 0.5 * bs[:, list(_LOWER_DOWN)].mean(axis=1)
    return float(np.std(opening) + np.mean(np.abs(np.diff(opening))))


def _candidates(features: Features) -> dict[int, TrackFeatures]:
    n = max(1, len(features.frame_index))
    tracks = {tid: tr for tid, tr in features.tracks.items() if len(tr) / n >= MIN_FACE_COVERAGE}
    return tracks or {tid: tr for tid, tr in features.tracks.items() if len(tr)}


def choose_client_face(features: Features, segments: Sequence[MoodSegment],
                       client_speaker: Optional[str], mode: str = "auto") -> Optional[int]:
    """The track id of the client's face.

    ``auto`` picks the face whose mouth moves while the client speaks and stays still while
    the others speak (a silent listener's mouth does neither, so it never wins); with one
    person in view, that person; without speakers, the largest face.
    """
    if not features.tracks:
        return None
    mode = (mode or "auto").strip().lower()
    cands = _candidates(features)

    def centre_x(tid: int) -> float:
        bb = np.asarray(cands[tid].bbox)
        return float(np.mean((bb[:, 0] + bb[:, 2]) / 2))

    def area(tid: int) -> float:
        bb = np.asarray(cands[tid].bbox)
        return float(np.mean((bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])))

    if mode == "left":
        return min(cands, key=centre_x)
    if mode == "right":
        return max(cands, key=centre_x)
    if mode == "largest":
        return max(cands, key=area)
    if mode != "auto":
        try:
            wanted = int(mode)
        except ValueError:
            raise TranscriptError(f"--client-face takes auto, left, right, largest or a track id, "
                                  f"not {mode!r}") from None
        if wanted not in features.tracks:
            raise TranscriptError(f"--client-face {wanted}: no such face track (tracks: "
                                  f"{', '.join(str(t) for t in sorted(features.tracks))})")
        return wanted
    if len(cands) == 1:
        return next(iter(cands))
    own = client_segments(segments, client_speaker) if client_speaker else []
    other = [s for s in segments if s.speaker is not None and s not in own]
    if not own:
        return max(cands, key=area)

    def score(tid: int) -> float:
        tr = cands[tid]
        mine = [m for s in own if (m := mouth_activity(tr, s.start, s.end)) is not None]
        theirs = [m for s in other if (m := mouth_activity(tr, s.start, s.end)) is not None]
        if not mine:
            return -np.inf
        seen = len(mine) / len(own)
        return (float(np.mean(mine)) - (float(np.mean(theirs)) if theirs else 0.0)) * seen

    return max(cands, key=score)
