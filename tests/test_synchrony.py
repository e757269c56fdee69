"""Synchrony between two faces (issue 13 §3): windowed cross-lagged correlation, the lag and
who leads, z against segment-shuffled surrogates, gaps, and the per-flag mirroring rule."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from cuewatch.attunement.synchrony import (
    MIRRORING_VERDICTS,
    SYNCHRONY_SIGNALS,
    FaceSignals,
    SynchronySettings,
    face_signals,
    flag_mirroring,
    head_motion,
    segment_shuffle,
    session_synchrony,
)
from cuewatch.errors import CuewatchError
from cuewatch.progress import Cancelled, Progress

FPS = 15.0
C = len(SYNCHRONY_SIGNALS)


def _slow_noise(rng: np.random.Generator, n: int, width: int = 8) -> np.ndarray:
    """(n, C) smooth random signals (a face's signals change over a fraction of a second)."""
    raw = rng.normal(size=(n + 2 * width, C))
    kernel = np.ones(width) / width
    return np.stack([np.convolve(raw[:, c], kernel, "same")[width:width + n] for c in range(C)], axis=1)


def _pair(seconds: float, lag_s: float, seed: int, own: float = 1.0) -> tuple[FaceSignals, FaceSignals]:
    """The client's signals and a therapist copying them ``lag_s`` later (negative: earlier)
    on top of their own independent movement of relative size ``own``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    client = _slow_noise(rng, n)
    therapist = np.roll(client, int(round(lag_s * FPS)), axis=0) + own * _slow_noise(rng, n)
    seen = np.ones(n, dtype=bool)
    return FaceSignals(t, client, seen), FaceSignals(t, therapist, seen.copy())


@pytest.mark.parametrize("lag_s, leader", [(0.8, "client"), (-1.2, "therapist"), (0.0, "neither")])
def test_a_known_lag_is_recovered_with_who_leads(lag_s: float, leader: str) -> None:
    client, therapist = _pair(240, lag_s, seed=1)
    result = session_synchrony(client, therapist)
    assert result.lag_s == pytest.approx(lag_s, abs=0.1)
    assert result.leader == leader
    assert result.z is not None and result.z >= 5
    assert all(z is not None and z >= 3 for z in result.signal_z.values())
    # synchrony over time: every window sees the copy, at the built-in lag
    assert np.all(result.synchrony_over_time() > 0.4)
    assert np.nanmedian(result.peak_lag_s) == pytest.approx(lag_s, abs=0.15)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_independent_faces_are_not_synchronous(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(240 * FPS)
    t = np.arange(n) / FPS
    a = FaceSignals(t, _slow_noise(rng, n), np.ones(n, dtype=bool))
    b = FaceSignals(t, _slow_noise(rng, n), np.ones(n, dtype=bool))
    result = session_synchrony(a, b)
    # peak picking alone gives a clearly positive mean peak correlation...
    assert result.statistic is not None and result.statistic > 0.2
    # ...which the surrogates see through
    assert result.z is not None and abs(result.z) < 2


def test_progress_is_reported_and_a_cancel_stops_it() -> None:
    client, therapist = _pair(120, 0.8, seed=9)
    seen: list[float] = []
    session_synchrony(client, therapist, progress=Progress(lambda f, _m: seen.append(f)))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        session_synchrony(client, therapist, progress=Progress(cancel=stop))


def test_surrogates_never_pair_a_window_with_its_own_segment() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        pairs = segment_shuffle(41, 4, rng)
        assert pairs.shape == (40,)
        assert sorted(pairs.tolist()) == list(range(40))
        own = np.arange(40) // 4
        assert np.all(pairs // 4 != own)


def _with_gaps(signals: FaceSignals, rng: np.random.Generator, share: float) -> FaceSignals:
    """Frames dropped in runs of 0.2 to 3 s (the face not found) and frames seen badly."""
    keep = np.ones(signals.timestamps.shape[0], dtype=bool)
    while 1 - keep.mean() < share:
        start = int(rng.integers(keep.shape[0]))
        keep[start:start + int(rng.uniform(0.2, 3.0) * FPS)] = False
    seen = signals.seen.copy()
    seen[rng.random(seen.shape[0]) < 0.05] = False   # low confidence: present, not seen
    return FaceSignals(signals.timestamps[keep], signals.values[keep], seen[keep])


def test_gaps_in_either_face_are_handled() -> None:
    client, therapist = _pair(300, 0.8, seed=5)
    rng = np.random.default_rng(5)
    client, therapist = _with_gaps(client, rng, 0.15), _with_gaps(therapist, rng, 0.15)
    result = session_synchrony(client, therapist)
    assert result.lag_s == pytest.approx(0.8, abs=0.15)
    assert result.z is not None and result.z >= 3


def test_a_long_absence_leaves_its_windows_out() -> None:
    client, therapist = _pair(240, 0.8, seed=6)
    away = (therapist.timestamps > 100) & (therapist.timestamps < 130)
    therapist = FaceSignals(therapist.timestamps[~away], therapist.values[~away], therapist.seen[~away])
    result = session_synchrony(client, therapist)
    inside = (result.window_times > 106) & (result.window_times < 124)
    assert inside.any() and np.all(np.isnan(result.peak_r[inside]))
    assert np.all(np.isfinite(result.peak_r[result.window_times < 90]))
    assert result.lag_s == pytest.approx(0.8, abs=0.1)


def test_missing_head_pose_leaves_head_motion_out() -> None:
    client, therapist = _pair(200, 0.8, seed=7)
    values = therapist.values.copy()
    values[:, SYNCHRONY_SIGNALS.index("head_motion")] = np.nan
    result = session_synchrony(client, FaceSignals(therapist.timestamps, values, therapist.seen))
    assert result.signal_z["head_motion"] is None
    assert result.z is not None and result.z >= 3


def test_faces_that_barely_overlap_get_no_z_but_a_reason() -> None:
    client, therapist = _pair(60, 0.8, seed=8)
    late = therapist.timestamps > 56
    result = session_synchrony(client, FaceSignals(therapist.timestamps[late], therapist.values[late],
                                                   therapist.seen[late]))
    assert result.z is None and result.lag_s is None and "share less than" in result.reason
    off_camera = FaceSignals(np.zeros(0), np.zeros((0, C)), np.zeros(0, dtype=bool))
    assert session_synchrony(client, off_camera).z is None
    assert flag_mirroring(client, off_camera, 10.0, 12.0).verdict == "not_seen"
    short = session_synchrony(*_pair(20, 0.8, seed=8))
    assert short.z is None and "surrogates" in short.reason
    assert short.lag_s == pytest.approx(0.8, abs=0.2)   # the correlations are still there


def test_face_signals_come_from_the_expression_series_and_the_pose() -> None:
    from cuewatch.expression.series import ExpressionSeries, ExpressionSettings
    from cuewatch.formats import AU_NAMES, EXPRESSION_CATEGORIES

    n = 30
    t = np.arange(n) / FPS
    au = np.zeros((n, len(AU_NAMES)), np.float32)
    au[:, AU_NAMES.index("AU12")] = np.linspace(0, 3, n)
    au[:, AU_NAMES.index("AU04")] = 1.25
    scores = np.zeros((n, len(EXPRESSION_CATEGORIES)), np.float32)
    scores[:, EXPRESSION_CATEGORIES.index("neutral")] = 0.25
    confidence = np.where(np.arange(n) < 5, 0.1, 0.9).astype(np.float32)
    series = ExpressionSeries(t, au, scores, np.zeros(n, np.float32), np.zeros(n, np.float32), confidence,
                              np.zeros(n, np.int8), -np.ones((n, 3), np.int16), np.zeros((n, 3), np.float32),
                              au, None, ExpressionSettings())  # type: ignore[arg-type]
    pose = np.zeros((n, 3))
    pose[:, 1] = 2.0 * np.arange(n)        # turning at 30 degrees per second
    sig = face_signals(series, pose)
    assert sig.values[:, 0] == pytest.approx(au[:, AU_NAMES.index("AU12")])
    assert sig.values[:, 1] == pytest.approx(1.25)
    assert sig.values[:, 2] == pytest.approx(0.75)
    assert np.isnan(sig.values[0, 3]) and sig.values[5:, 3] == pytest.approx(30.0, rel=0.01)
    assert sig.seen.tolist() == [False] * 5 + [True] * (n - 5)
    assert np.all(np.isnan(face_signals(series).values[:, 3]))
    with pytest.raises(CuewatchError):
        face_signals(series, pose[:-1])


def test_head_motion_is_not_computed_across_a_gap() -> None:
    t = np.array([0.0, 0.1, 0.2, 2.0, 2.1])
    pose = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 40, 0], [0, 41, 0]], dtype=float)
    speed = head_motion(t, pose, max_gap_s=0.5)
    assert np.isnan(speed[0]) and np.isnan(speed[3])
    assert speed[[1, 2, 4]] == pytest.approx([10.0, 10.0, 10.0])


@pytest.mark.parametrize("bad", [dict(window_s=0), dict(rate_hz=float("nan")), dict(max_lag_s=9),
                                 dict(segment_s=5), dict(n_surrogates=1), dict(min_valid=0)])
def test_settings_out_of_range_are_refused(bad: dict) -> None:
    with pytest.raises(CuewatchError):
        SynchronySettings(**bad)


def test_mismatched_signals_are_refused() -> None:
    with pytest.raises(CuewatchError):
        FaceSignals(np.arange(5.0), np.zeros((5, C - 1)), np.ones(5, dtype=bool))
    with pytest.raises(CuewatchError):
        FaceSignals(np.array([0.0, 0.2, 0.1]), np.zeros((3, C)), np.ones(3, dtype=bool))


# ------------------------------------------------------------------ the per-flag rule


def _face(steps: dict[str, list[tuple[float, float]]], seconds: float = 20.0,
          seen_from: float = -1.0) -> FaceSignals:
    """A face at rest (AU 0.2) with ``steps``: signal -> [(from time, level)]."""
    t = np.arange(0, seconds, 1 / FPS)
    values = np.full((t.shape[0], C), 0.2)
    for name, changes in steps.items():
        col = SYNCHRONY_SIGNALS.index(name)
        for start, level in changes:
            values[t >= start, col] = level
    return FaceSignals(t, values, t >= seen_from)


# the client frowns (AU04 up by 1.5) at 10 s, in a flag from 10 to 12 s
CLIENT_FROWNS = _face({"AU04": [(10.0, 1.7)]})


@pytest.mark.parametrize("therapist, verdict", [
    (_face({"AU04": [(11.0, 1.0)]}), "toward"),           # concern follows a second later
    (_face({"AU04": [(11.0, 0.2)], "AU12": [(11.0, 2.0)]}), "no_change"),  # smiles: AU04 still
    (_face({"AU04": [(0.0, 1.5), (11.0, 0.5)]}), "away"),  # a frown relaxed as the client's came
    (_face({}), "no_change"),
    (_face({}, seen_from=14.0), "not_seen"),              # therapist off camera until after
])
def test_the_therapist_moving_toward_a_flagged_face(therapist: FaceSignals, verdict: str) -> None:
    result = flag_mirroring(CLIENT_FROWNS, therapist, 10.0, 12.0)
    assert result.verdict == verdict
    assert result.verdict in MIRRORING_VERDICTS
    dc, _ = result.changes["AU04"]
    assert dc == pytest.approx(1.5)


def test_a_smile_and_a_frown_answered_in_opposite_ways_is_mixed() -> None:
    client = _face({"AU04": [(10.0, 1.7)], "AU12": [(10.0, 2.2)]})
    therapist = _face({"AU04": [(11.0, 1.2)], "AU12": [(0.0, 2.0), (11.0, 0.2)]})
    assert flag_mirroring(client, therapist, 10.0, 12.0).verdict == "mixed"


def test_a_still_client_face_asks_nothing_of_the_therapist() -> None:
    result = flag_mirroring(_face({}), _face({"AU12": [(11.0, 3.0)]}), 10.0, 12.0)
    assert result.verdict == "client_still"


def test_the_answer_is_looked_for_only_in_the_seconds_after() -> None:
    late = _face({"AU04": [(17.5, 1.7)]})    # frowns 5.5 s after the flag ended
    assert flag_mirroring(CLIENT_FROWNS, late, 10.0, 12.0).verdict == "no_change"
    with pytest.raises(CuewatchError):
        flag_mirroring(CLIENT_FROWNS, late, 12.0, 10.0)


# ------------------------------------------------------------------ real faces


@pytest.mark.tuned
def test_real_faces_copy_and_unrelated_pairing(media_dir: Path, model_path: Path) -> None:
    """The benchmark's construction (real faces from ../shared/media), one pairing each."""
    from cuewatch.evaluation.synchrony_pairs import FIRST_POOL, SECOND_POOL, build_pairs, clip_signals

    first = clip_signals(media_dir, FIRST_POOL, model_path)
    second = clip_signals(media_dir, SECOND_POOL, model_path)
    for pool in (first, second):
        for sig in pool:
            assert sig.seen.mean() > 0.5
            assert np.all(np.isfinite(sig.values[:, :3]))
            assert np.nanstd(sig.values[:, SYNCHRONY_SIGNALS.index("AU12")]) > 0   # real movement
    copy, unrelated = build_pairs(first, second, 600.0, lag_s=0.8, seed=0)
    assert copy.second.timestamps[0] == pytest.approx(copy.first.timestamps[0] + 0.8)
    found = session_synchrony(copy.first, copy.second)
    assert found.lag_s == pytest.approx(0.8, abs=0.2)
    assert found.leader == "client"
    assert found.z is not None and found.z >= 3
    none = session_synchrony(unrelated.first, unrelated.second)
    assert none.z is not None and abs(none.z) < 2
