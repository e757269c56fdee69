"""Two-person face signals with a known answer, built from real faces, to measure synchrony.

There is no consented two-person role-play with a known mimicry lag, so one is built from
the real clips in ``../shared/media``: each clip is landmarked with the reference face pass
(:mod:`cuewatch.evaluation.landmarks`), its expression series and head pose become
:class:`~cuewatch.attunement.synchrony.FaceSignals`, and pieces of those (random spans of
random clips, with short unseen gaps between them, as a face drops out of view) are laid
end to end into a session for each person:

- the *copy*: the second person's own real face (a different pool of clips) with its own
  movement damped to ``own_share``, plus the first person's expression changes (their
  departure from their median) delayed by a known lag, plus Gaussian noise;
- the *unrelated* pairing: the first person with another arrangement of the second pool
  (two different real sequences, nothing copied).

Used by ``benchmarks/bench_synchrony.py`` and ``tests/test_synchrony.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cuewatch.attunement.synchrony import FaceSignals, SynchronySettings, face_signals, on_time_base
from cuewatch.evaluation.landmarks import landmark_video

#: the two pools of real clips (paths under ../shared/media): the first person is built
#: from the first, the second person's own face from the second, so they never share a clip.
FIRST_POOL: tuple[str, ...] = ("pexels/WolfgangLanger_Pexels.mp4", "crema_d/1001_DFA_HAP_XX.flv",
                               "crema_d/1001_DFA_ANG_XX.flv", "crema_d/1001_DFA_SAD_XX.flv")
SECOND_POOL: tuple[str, ...] = ("ravdess/01-01-07-02-02-01-01.mp4", "robustness/single_face.mp4",
                                "crema_d/1001_DFA_NEU_XX.flv", "crema_d/1001_DFA_DIS_XX.flv",
                                "crema_d/1001_DFA_FEA_XX.flv")
#: the frame rate the clips are landmarked at (the face pass's default).
PAIR_FPS = 15.0
#: a piece of a clip is at least this long, seconds; between pieces the face is unseen for
#: a gap drawn from ``GAP_RANGE_S``.
MIN_PIECE_S = 1.5
GAP_RANGE_S = (0.2, 1.0)


@dataclass
class PairedSignals:
    """One constructed pairing: the two people's signals and the lag built into it."""

    first: FaceSignals
    second: FaceSignals
    lag_s: float


def clip_signals(media_dir: Path, clips: tuple[str, ...], model: Path) -> list[FaceSignals]:
    """The real face signals of each clip (reference face pass, expression, head pose)."""
    out = []
    for name in clips:
        face = landmark_video(media_dir / name, model, fps=PAIR_FPS)
        out.append(face_signals(face.expression(), face.pose))
    return out


def arrange(pieces: list[FaceSignals], duration_s: float, rng: np.random.Generator) -> FaceSignals:
    """A session ``duration_s`` long of random spans of random pieces, end to end, with a
    short unseen gap between spans."""
    times, values, seen = [], [], []
    clock = 0.0
    while clock < duration_s:
        piece = pieces[int(rng.integers(len(pieces)))]
        t = piece.timestamps
        span = float(t[-1] - t[0])
        length = float(rng.uniform(min(MIN_PIECE_S, span), span)) if span > 0 else 0.0
        start = t[0] + float(rng.uniform(0.0, span - length)) if span > length else t[0]
        rows = (t >= start) & (t <= start + length)
        times.append(t[rows] - start + clock)
        values.append(piece.values[rows])
        seen.append(piece.seen[rows])
        clock = float(times[-1][-1]) + 1.0 / PAIR_FPS + float(rng.uniform(*GAP_RANGE_S))
    t_all = np.concatenate(times)
    keep = t_all < duration_s
    return FaceSignals(t_all[keep], np.concatenate(values)[keep], np.concatenate(seen)[keep])


def delayed_copy(source: FaceSignals, own: FaceSignals, lag_s: float, own_share: float,
                 noise: float, rng: np.random.Generator) -> FaceSignals:
    """The second person: ``own`` face damped to ``own_share`` of its movement, plus
    ``source``'s changes from its median shown ``lag_s`` later, plus Gaussian noise of
    ``noise`` times each signal's spread in ``source``. Seen where both were."""
    times = source.timestamps + lag_s
    base, valid = on_time_base(own, times, SynchronySettings().max_gap_s)
    centre_src = np.nanmedian(np.where(source.seen[:, None], source.values, np.nan), axis=0)
    centre_own = np.nanmedian(np.where(own.seen[:, None], own.values, np.nan), axis=0)
    spread = np.nanstd(np.where(source.seen[:, None], source.values, np.nan), axis=0)
    values = (centre_own + own_share * (base - centre_own) + (source.values - centre_src)
              + noise * spread * rng.standard_normal(source.values.shape))
    values = np.where(valid, values, np.nan)
    return FaceSignals(times, values, source.seen & valid.any(axis=1))


def build_pairs(first_pool: list[FaceSignals], second_pool: list[FaceSignals], duration_s: float,
                lag_s: float = 0.8, own_share: float = 0.5, noise: float = 0.3,
                seed: int = 0) -> tuple[PairedSignals, PairedSignals]:
    """(the copy with ``lag_s``, the unrelated pairing), both ``duration_s`` long."""
    rng = np.random.default_rng(seed)
    first = arrange(first_pool, duration_s, rng)
    own = arrange(second_pool, duration_s + lag_s, rng)
    copy = delayed_copy(first, own, lag_s, own_share, noise, rng)
    other = arrange(second_pool, duration_s, rng)
    return PairedSignals(first, copy, lag_s), PairedSignals(first, other, 0.0)
