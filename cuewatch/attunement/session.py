"""The attunement of one analysed session: what the trainee did with each flagged moment,
and how the two faces moved together.

Per flag: the trainee's response from their words (``cuewatch.words.response``) and
whether their face moved toward the client's (``synchrony.flags_mirroring``); per session:
the face synchrony (``synchrony.session_synchrony``). Word measures need only the
transcript, so a recording with the therapist off screen still gets every response; face
measures need both faces, and say why when they have none (``THERAPIST_NOT_ON_CAMERA``,
``CLIENT_NOT_ON_CAMERA``) instead of giving a number. ``to_dict`` is the attunement.json
layout (``cuewatch.formats.ATTUNEMENT_*``); the file itself is ``cuewatch.outputs``'.
Any thread; no state.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from cuewatch.attunement.synchrony import (
    FaceSignals,
    FlagMirroring,
    SessionSynchrony,
    SynchronySettings,
    face_signals,
    flags_mirroring,
    session_synchrony,
)
from cuewatch.domain import Flag, MoodSegment
from cuewatch.expression.series import ExpressionSeries
from cuewatch.features.folder import Features
from cuewatch.formats import (
    ATTUNEMENT_FLAG_KEYS,
    ATTUNEMENT_MIRRORING_KEYS,
    ATTUNEMENT_RESPONSE_KEYS,
    ATTUNEMENT_SIGNAL_KEYS,
    ATTUNEMENT_SYNCHRONY_KEYS,
    CLIENT_NOT_ON_CAMERA,
    NO_SPEAKER_LABELS,
    THERAPIST_NOT_ON_CAMERA,
)
from cuewatch.progress import Progress
from cuewatch.words.response import RESPONSE_MAX_TURNS, RESPONSE_WINDOW_S, FlagResponse, respond_to_flag

#: decimals kept in attunement.json (seconds and correlations: well below what is measured).
_DIGITS = 3


def _num(value: Optional[float]) -> Optional[float]:
    """A JSON number: rounded, None for missing or not finite (JSON has no NaN)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), _DIGITS)


@dataclass
class FlagAttunement:
    """One flagged moment: the trainee's response and the mirroring verdict, each either a
    value or the reason there is none."""

    id: int
    start: float
    end: float
    type: str
    response: Optional[FlagResponse]
    response_reason: str = ""
    mirroring: Optional[FlagMirroring] = None
    mirroring_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        response = None
        if self.response is not None:
            r = self.response.to_dict()
            response = {k: r[k] for k in ATTUNEMENT_RESPONSE_KEYS}
        mirroring = None
        if self.mirroring is not None:
            changes = {name: {"client": _num(dc), "therapist": _num(dt)}
                       for name, (dc, dt) in self.mirroring.changes.items()}
            mirroring = dict(zip(ATTUNEMENT_MIRRORING_KEYS, (self.mirroring.verdict, changes)))
        values = (self.id, _num(self.start), _num(self.end), self.type, response,
                  self.response_reason, mirroring, self.mirroring_reason)
        return dict(zip(ATTUNEMENT_FLAG_KEYS, values))


@dataclass
class Attunement:
    """The attunement of one session (see the module docstring)."""

    therapist_speaker: Optional[str]
    therapist_track: Optional[int]
    flags: list[FlagAttunement] = field(default_factory=list)
    synchrony: Optional[SessionSynchrony] = None
    #: why ``synchrony`` is None, or why its z is (``SessionSynchrony.reason``).
    synchrony_reason: str = ""
    settings: SynchronySettings = field(default_factory=SynchronySettings)
    #: False when only the per-flag measures were computed (a flag recompute: the session
    #: synchrony does not depend on the flags and is kept from the analysis).
    with_synchrony: bool = True

    def settings_dict(self) -> dict[str, Any]:
        """The response window and synchrony settings the figures were made with."""
        return {"response": {"window_s": RESPONSE_WINDOW_S, "max_turns": RESPONSE_MAX_TURNS},
                "synchrony": self.settings.to_dict()}

    def synchrony_dict(self) -> dict[str, Any]:
        """Session synchrony as attunement.json holds it: z, lag (positive: the therapist
        follows), leader, per signal z and lag, synchrony over time, and the reason for
        whatever is missing."""
        s = self.synchrony
        if s is None:
            return {k: ({} if k == "signals" else [] if k == "over_time" else None)
                    for k in ATTUNEMENT_SYNCHRONY_KEYS} | {"reason": self.synchrony_reason}
        signals = {}
        for k, name in enumerate(s.signals):
            column = s.lag_profile[:, k]
            lag = float(s.lags_s[int(np.nanargmax(column))]) if np.isfinite(column).any() else None
            signals[name] = dict(zip(ATTUNEMENT_SIGNAL_KEYS, (_num(s.signal_z.get(name)), _num(lag))))
        over_time = [[_num(t), _num(r)] for t, r in zip(s.window_times, s.synchrony_over_time())]
        values = (_num(s.z), _num(s.lag_s), s.leader if s.lag_s is not None else None,
                  _num(s.statistic), _num(s.surrogate_mean), _num(s.surrogate_sd), signals,
                  over_time, s.reason)
        return dict(zip(ATTUNEMENT_SYNCHRONY_KEYS, values))


def _flag_response(flag: Flag, segments: Sequence[MoodSegment], starts: Sequence[float],
                   client_speaker: Optional[str],
                   therapist_speaker: Optional[str]) -> tuple[Optional[FlagResponse], str]:
    """The response to one flag. ``segments`` are sorted by (start, end) and ``starts`` are
    their starts: only the segments the response window can reach are handed on (the
    window starts at the flag and ends ``RESPONSE_WINDOW_S`` after it), so an hour's flags
    are read in well under a second."""
    if client_speaker is None:
        return None, NO_SPEAKER_LABELS
    lo = bisect.bisect_left(starts, flag.start)
    hi = bisect.bisect_right(starts, flag.end + RESPONSE_WINDOW_S)
    return respond_to_flag(flag.start, flag.end, segments[lo:hi], client_speaker,
                           therapist_speaker=therapist_speaker), ""


def session_attunement(features: Features, flags: Sequence[Flag], segments: Sequence[MoodSegment],
                       client_speaker: Optional[str], therapist_speaker: Optional[str],
                       client_series: Optional[ExpressionSeries], client_track: Optional[int],
                       therapist_track: Optional[int],
                       settings: Optional[SynchronySettings] = None,
                       progress: Optional[Progress] = None,
                       with_synchrony: bool = True) -> Attunement:
    """Responses, mirroring and synchrony of one analysed session.

    ``with_synchrony`` False: the per-flag measures only (what a flag recompute needs; the
    session synchrony, a few seconds for an hour, is left out).

    ``client_series`` is the client track's expression (read against their neutral face);
    the therapist's is read against their own, found automatically. ``flags`` are numbered
    from 1 in order where they have no id, as in flags.csv.
    """
    from cuewatch.expression.cache import track_expression

    s = settings or SynchronySettings()
    prog = progress or Progress()
    out = Attunement(therapist_speaker, therapist_track, settings=s, with_synchrony=with_synchrony)
    client: Optional[FaceSignals] = None
    therapist: Optional[FaceSignals] = None

    def pose(track: int) -> Optional[np.ndarray]:
        # head motion enters the session synchrony only (not MIRROR_SIGNALS): without the
        # synchrony it is not computed
        return features.tracks[track].pose if with_synchrony else None

    if client_series is not None and client_track is not None and client_track in features.tracks:
        client = face_signals(client_series, pose(client_track), s)
    if therapist_track is not None and therapist_track in features.tracks:
        therapist = face_signals(track_expression(features, therapist_track), pose(therapist_track), s)
    face_reason = (THERAPIST_NOT_ON_CAMERA if therapist is None
                   else CLIENT_NOT_ON_CAMERA if client is None else "")
    ordered = sorted(segments, key=lambda seg: (seg.start, seg.end))
    starts = [seg.start for seg in ordered]
    for number, flag in enumerate(flags, 1):
        response, why = _flag_response(flag, ordered, starts, client_speaker, therapist_speaker)
        item = FlagAttunement(flag.id if flag.id is not None else number, flag.start, flag.end,
                              flag.type, response, why)
        if client is None or therapist is None:
            item.mirroring_reason = face_reason
        out.flags.append(item)
    if client is not None and therapist is not None:
        verdicts = flags_mirroring(client, therapist, [(f.start, f.end) for f in flags], s)
        for item, mirroring in zip(out.flags, verdicts):
            item.mirroring = mirroring
    if not with_synchrony:
        pass
    elif client is not None and therapist is not None:
        out.synchrony = session_synchrony(client, therapist, s, prog)
        out.synchrony_reason = out.synchrony.reason
    else:
        out.synchrony_reason = face_reason
    prog.report(1.0, "attunement: done")
    return out
