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

from cuewatch.domain import THERAPIST_ROLE_NAMES, MoodSegment, role_word, speaker_key
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
CLINICIAN_ROLE_NAMES = THERAPIST_ROLE_NAMES + ("interviewer", "doctor", "dr", "supervisor")


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
    others = [n for n in names if role_word(n) not in CLINICIAN_ROLE_NAMES]
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
    """The tracks that may be a person: seen often enough; a track of no frames never."""
    n = max(1, len(features.frame_index))
    seen = {tid: tr for tid, tr in features.tracks.items() if len(tr)}
    return {tid: tr for tid, tr in seen.items() if len(tr) / n >= MIN_FACE_COVERAGE} or seen


def _centre_x(track: TrackFeatures) -> float:
    bb = np.asarray(track.bbox)
    return float(np.mean((bb[:, 0] + bb[:, 2]) / 2))


def _area(track: TrackFeatures) -> float:
    bb = np.asarray(track.bbox)
    return float(np.mean((bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])))


def _by_place(cands: dict[int, TrackFeatures], mode: str) -> Optional[int]:
    """The candidate a placed choice (left, right, largest) names; None for other modes."""
    if mode == "left":
        return min(cands, key=lambda tid: _centre_x(cands[tid]))
    if mode == "right":
        return max(cands, key=lambda tid: _centre_x(cands[tid]))
    if mode == "largest":
        return max(cands, key=lambda tid: _area(cands[tid]))
    return None


def choose_client_face(features: Features, segments: Sequence[MoodSegment],
                       client_speaker: Optional[str], mode: str = "auto") -> Optional[int]:
    """The track id of the client's face.

    ``auto`` picks the face whose mouth moves while the client speaks and stays still while
    the others speak (a silent listener's mouth does neither, so it never wins); with one
    person in view, that person; without speakers, the largest face.
    """
    mode = parse_face_choice(mode or "auto", "--client-face")
    cands = _candidates(features)
    if not cands:  # no face seen at all (tracks of no frames are none)
        return None
    placed = _by_place(cands, mode)
    if placed is not None:
        return placed
    if mode != "auto":
        wanted = int(mode)
        if wanted not in cands and wanted in features.tracks and not len(features.tracks[wanted]):
            raise TranscriptError(f"--client-face {wanted}: that face track has no frames")
        if wanted not in features.tracks:
            raise TranscriptError(f"--client-face {wanted}: no such face track (tracks: "
                                  f"{', '.join(str(t) for t in sorted(features.tracks))})")
        return wanted
    if len(cands) == 1:
        return next(iter(cands))
    own = client_segments(segments, client_speaker) if client_speaker else []
    other = [s for s in segments if s.speaker is not None and s not in own]
    if not own:
        return max(cands, key=lambda tid: _area(cands[tid]))

    def score(tid: int) -> float:
        tr = cands[tid]
        mine = [m for s in own if (m := mouth_activity(tr, s.start, s.end)) is not None]
        theirs = [m for s in other if (m := mouth_activity(tr, s.start, s.end)) is not None]
        if not mine:
            return -np.inf
        seen = len(mine) / len(own)
        return (float(np.mean(mine)) - (float(np.mean(theirs)) if theirs else 0.0)) * seen

    return max(cands, key=score)


# --- the therapist: the other person -------------------------------------------------

#: how ``--client-face`` / ``--therapist-face`` name a face: a rule, or a track id.
FACE_CHOICES: tuple[str, ...] = ("auto", "left", "right", "largest")


def parse_face_choice(text: str, option: str) -> str:
    """``text`` normalised when it names a face (a choice of ``FACE_CHOICES`` or a track id
    >= 0), else TranscriptError naming ``option`` in one line: checked before any analysis."""
    mode = (text or "").strip().lower()
    if mode in FACE_CHOICES or (mode.isdigit() and mode.isascii()):
        return mode
    raise TranscriptError(f"{option} takes {', '.join(FACE_CHOICES)} or a track id, not {text!r}")


def choose_therapist_speaker(segments: Sequence[MoodSegment], client_speaker: Optional[str],
                             requested: Optional[str] = None) -> Optional[str]:
    """The transcript's name for the therapist, as spelled in the transcript, or None.

    ``requested`` (--therapist-speaker) must match a speaker other than the client. Without
    it: the one speaker who is not the client; of several, the one named as a clinician
    (Therapist, Counsellor, ...). None when there is no such speaker (the client alone)
    or several with none of them a clinician: then every speaker but the client counts as
    the therapist (``cuewatch.words.response.therapist_turns``).
    """
    names = [n for n in speakers(segments)
             if client_speaker is None or speaker_key(n) != speaker_key(client_speaker)]
    if requested is not None and requested.strip():
        want = speaker_key(requested)
        if client_speaker is not None and want == speaker_key(client_speaker):
            raise TranscriptError(f"therapist speaker {requested!r} is the client speaker")
        for name in names:
            if speaker_key(name) == want:
                return name
        listed = ", ".join(speakers(segments)) or "none"
        raise TranscriptError(f"therapist speaker {requested!r} not found; speakers in the "
                              f"transcript: {listed}")
    if len(names) == 1:
        return names[0]
    clinicians = [n for n in names if role_word(n) in CLINICIAN_ROLE_NAMES]
    return clinicians[0] if len(clinicians) == 1 else None


def choose_therapist_face(features: Features, client_track: Optional[int],
                          mode: str = "auto") -> Optional[int]:
    """The track id of the therapist's face, or None when they are not on camera.

    Chosen among the people in view other than the client: ``auto`` the one seen longest
    (the most coverage), ``left`` / ``right`` / ``largest`` by position or size; none when
    the client is the only person in view. An explicit track id must exist and must not be
    the client's.
    """
    mode = parse_face_choice(mode, "--therapist-face")
    if mode.isdigit():
        wanted = int(mode)
        if wanted not in features.tracks:
            raise TranscriptError(f"--therapist-face {wanted}: no such face track (tracks: "
                                  f"{', '.join(str(t) for t in sorted(features.tracks)) or 'none'})")
        if wanted == client_track:
            raise TranscriptError(f"--therapist-face {wanted}: that is the client's face track")
        return wanted
    cands = {tid: tr for tid, tr in _candidates(features).items() if tid != client_track}
    if not cands:
        return None
    placed = _by_place(cands, mode)
    if placed is not None:
        return placed
    return max(cands, key=lambda tid: (len(cands[tid]), -tid))
