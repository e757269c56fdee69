"""The faces together: synchrony and mimicry between the client's and the therapist's face.

Windowed cross-lagged correlation (WCLC) with peak picking, after Boker, Rotondo, Xu & King
(2002, "Windowed cross-correlation and peak picking for the analysis of variability in the
association between behavioral time series", Psychological Methods 7(3)) and the WCLC of
the rMEA package (Kleinbub & Ramseyer, 2021): both people's face signals on one time base,
a window sliding along the session, in each window the Pearson correlation of the client's
signal with the therapist's at every lag in both directions, and the peak of those
correlations (how strongly, and at what lag, the two moved together then). A peak
correlation is biased upward by the picking itself and by each signal's own slowness, so
a session's figure is judged against surrogate pairings ("pseudo-synchrony", Ramseyer &
Tschacher): the session cut into segments and the therapist's segments shuffled (none left
in place), so that each client window meets a whole stretch of the therapist's face, with
its own dynamics, from another moment. Windows are paired whole (a seam inside a window
would correlate with anything and bias the surrogates up), and only windows whose lags all
fall inside the session are used, so real and surrogate peaks are picked over the same
lags. The session gets a z-score against those surrogates, not just a correlation; the
session statistic is the mean over windows and signals of the Fisher z of each window's
peak correlation (rMEA's summary of a session).

Gaps: each person's frames are put on the common time base by linear interpolation
between seen frames up to ``max_gap_s`` apart; longer gaps are missing samples, filled with
the person's local mean (adding nothing to the covariance), and a window (at a lag) with
less than ``min_valid`` of either person's samples seen is left out.

Signals (:data:`SYNCHRONY_SIGNALS`): the smile (AU12), the lowered brow (AU04), the overall
expression intensity (1 - the neutral prototype match) from the expression series, and
head motion (angular speed of the head pose, degrees per second) from the track's pose.

Lag sign: a positive lag means the therapist follows the client (the client's signal at
``t`` goes with the therapist's at ``t + lag``); a negative lag, the therapist leads.

Pure numpy, vectorised over windows, lags and signals (one einsum per pairing): a
60-minute session with its 100 surrogates takes about two seconds (``benchmarks/bench_synchrony.py``). Any thread;
no state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.expression.series import ExpressionSeries, smooth_over_time
from cuewatch.formats import AU_NAMES, EXPRESSION_CATEGORIES
from cuewatch.progress import Progress

#: the face signals compared, in the column order of :class:`FaceSignals`.
SYNCHRONY_SIGNALS: tuple[str, ...] = ("AU12", "AU04", "intensity", "head_motion")
#: the signals the per-flag rule looks at (a smile and a frown are what a client reads as
#: being met; see :func:`flag_mirroring`).
MIRROR_SIGNALS: tuple[str, ...] = ("AU12", "AU04")
#: per-flag verdicts of :func:`flag_mirroring`.
MIRRORING_VERDICTS: tuple[str, ...] = ("toward", "away", "mixed", "no_change", "client_still",
                                       "not_seen")
#: who leads a session (:attr:`SessionSynchrony.leader`).
LEADERS: tuple[str, ...] = ("client", "therapist", "neither")


@dataclass(frozen=True)
class SynchronySettings:
    """Every tunable of the synchrony stage, with its default and the reason for it."""

    #: common time base, samples per second. The expression stage smooths with a ~0.24 s
    #: triangle, so nothing faster than ~4 Hz survives in the signals; 10 Hz keeps them
    #: whole and gives 0.1 s lag steps (refined below a step by a parabola at the peak).
    rate_hz: float = 10.0
    #: window length, seconds. Boker et al. (2002) ask for a window long enough to hold a
    #: whole unit of the behaviour and short enough that the association may be taken as
    #: constant inside it. A facial display (a smile, a frown) lasts about 0.5 to 4 s
    #: (Ekman & Friesen), so 6 s holds one or two whole displays with their onset and
    #: offset; rMEA's 30 to 60 s windows are made for slower body motion energy.
    window_s: float = 6.0
    #: window increment, seconds: half the window (each moment is in two windows), the
    #: overlap Boker et al. and rMEA's examples use.
    step_s: float = 3.0
    #: largest lag looked at, each way, seconds. Facial mimicry starts 0.3 to 1 s after
    #: the other's display (Dimberg, Thunberg & Elmehed 2000, facial EMG) and visible
    #: mimicry in conversation follows within a few seconds; 3 s covers both while staying
    #: at half the window (Boker et al.'s bound, so a lagged window still shares most of
    #: its span with its partner and the correlation is not computed on a sliver).
    max_lag_s: float = 3.0
    #: a gap where a face was not seen (not detected, or seen with confidence below
    #: ``min_confidence``) up to this long is bridged by linear interpolation (a blink of
    #: the detector); a longer one is missing data.
    max_gap_s: float = 0.5
    min_confidence: float = 0.3
    #: a window (at a lag) counts only when at least this share of both people's samples
    #: in it were seen; missing samples are filled with the person's local mean, so they
    #: add nothing to the covariance.
    min_valid: float = 0.75
    #: surrogates: the session is cut into segments this long (whole windows) and the
    #: therapist's segments shuffled so that none stays in place (a derangement); each
    #: client window meets the therapist's span from the same place in another segment.
    #: At least window + max lag, so no surrogate pairing reaches the true alignment.
    segment_s: float = 12.0
    #: number of surrogate pairings: the z-score's spread is estimated from them (100
    #: gives its standard deviation within about 7%).
    n_surrogates: int = 100
    #: random seed of the surrogate shuffles, so a session's z is reproducible.
    seed: int = 13
    #: per flag (:func:`flag_mirroring`): the baseline is the ``baseline_s`` before the
    #: flag; the therapist's answer is looked for from the flag's start to ``follow_s``
    #: after its end (the mimicry lags above).
    baseline_s: float = 3.0
    follow_s: float = 3.0
    #: a change of at least this many AU intensity points (0..5 scale; 1 is a FACS trace)
    #: counts as the client's face moving, and as the therapist's.
    client_change: float = 0.5
    therapist_change: float = 0.3
    #: a person seen in fewer than this share of frames of a per-flag span is "not seen".
    min_seen_share: float = 0.5

    def __post_init__(self) -> None:
        for name in ("rate_hz", "window_s", "step_s", "max_lag_s", "segment_s"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise CuewatchError(f"synchrony setting {name} must be a positive number, got {value}")
        if self.max_lag_s > self.window_s:
            raise CuewatchError("synchrony max_lag_s must not exceed window_s")
        if self.segment_s < self.window_s + self.max_lag_s:
            raise CuewatchError("synchrony segment_s must be at least window_s + max_lag_s")
        if not 0 < self.min_valid <= 1:
            raise CuewatchError(f"synchrony min_valid must be in (0, 1], got {self.min_valid}")
        if self.n_surrogates < 2:
            raise CuewatchError(f"synchrony needs at least 2 surrogates, got {self.n_surrogates}")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class FaceSignals:
    """One person's face signals on their own frames (rows share the first axis N)."""

    timestamps: np.ndarray  # (N,) seconds, increasing
    values: np.ndarray      # (N, len(SYNCHRONY_SIGNALS)); NaN = not available
    seen: np.ndarray        # (N,) bool: the face was seen well enough on this frame

    def __post_init__(self) -> None:
        t = np.asarray(self.timestamps, dtype=np.float64)
        v = np.asarray(self.values, dtype=np.float64)
        seen = np.asarray(self.seen, dtype=bool)
        if t.ndim != 1 or v.shape != (t.shape[0], len(SYNCHRONY_SIGNALS)) or seen.shape != t.shape:
            raise CuewatchError(f"face signals have shapes {t.shape}, {v.shape}, {seen.shape}; expected "
                                f"(N,), (N, {len(SYNCHRONY_SIGNALS)}), (N,)")
        if np.any(np.diff(t) <= 0):
            raise CuewatchError("face signal timestamps must increase")
        self.timestamps, self.values, self.seen = t, v, seen


def head_motion(timestamps: np.ndarray, pose: np.ndarray, max_gap_s: float) -> np.ndarray:
    """(N,) angular speed of the head, degrees per second; NaN on a frame after a gap."""
    t = np.asarray(timestamps, dtype=np.float64)
    p = np.asarray(pose, dtype=np.float64)
    out = np.full(t.shape[0], np.nan)
    if t.shape[0] < 2:
        return out
    dt = np.diff(t)
    speed = np.linalg.norm(np.diff(p, axis=0), axis=1) / np.maximum(dt, 1e-6)
    out[1:] = np.where(dt <= max_gap_s, speed, np.nan)
    return out


def face_signals(series: ExpressionSeries, pose: Optional[np.ndarray] = None,
                 settings: Optional[SynchronySettings] = None) -> FaceSignals:
    """The synchrony signals of one track: its expression series and (optionally) its pose.

    ``pose`` (N, 3) pitch/yaw/roll degrees for the series' frames (``TrackFeatures.pose``);
    without it head motion is missing (NaN) and left out. Head motion is smoothed with the
    expression stage's own window, so all four signals have the same time resolution.
    """
    s = settings or SynchronySettings()
    t = np.asarray(series.timestamps, dtype=np.float64)
    n = t.shape[0]
    values = np.full((n, len(SYNCHRONY_SIGNALS)), np.nan)
    values[:, 0] = series.au[:, AU_NAMES.index("AU12")]
    values[:, 1] = series.au[:, AU_NAMES.index("AU04")]
    values[:, 2] = 1.0 - series.scores[:, EXPRESSION_CATEGORIES.index("neutral")]
    if pose is not None:
        p = np.asarray(pose, dtype=np.float64)
        if p.shape != (n, 3):
            raise CuewatchError(f"pose has shape {p.shape}, expected ({n}, 3)")
        speed = head_motion(t, p, s.max_gap_s)
        ok = np.isfinite(speed)
        smoothed = smooth_over_time(t, np.nan_to_num(speed), ok.astype(np.float64) + 1e-9,
                                    series.settings.smooth_half_width_s)
        values[:, 3] = np.where(ok, smoothed, np.nan)
    seen = np.asarray(series.confidence, dtype=np.float64) >= s.min_confidence
    return FaceSignals(t, values, seen)


def on_time_base(signals: FaceSignals, grid: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(values (G, C), valid (G, C)) of one person on ``grid``: linear between seen frames
    no more than ``max_gap_s`` apart; invalid (value 0) in longer gaps and outside."""
    g = np.asarray(grid, dtype=np.float64)
    out = np.zeros((g.shape[0], signals.values.shape[1]))
    valid = np.zeros(out.shape, dtype=bool)
    for c in range(signals.values.shape[1]):
        keep = signals.seen & np.isfinite(signals.values[:, c])
        tv, vv = signals.timestamps[keep], signals.values[keep, c]
        if tv.shape[0] == 0:
            continue
        right = np.clip(np.searchsorted(tv, g, side="left"), 0, tv.shape[0] - 1)
        left = np.clip(right - 1, 0, tv.shape[0] - 1)
        exact = np.abs(tv[right] - g) < 1e-9
        inside = (g >= tv[0]) & (g <= tv[-1])
        ok = inside & (exact | (tv[right] - tv[left] <= max_gap_s + 1e-9))
        out[:, c] = np.where(ok, np.interp(g, tv, vv), 0.0)
        valid[:, c] = ok
    return out, valid


def _fill_local_mean(x: np.ndarray, valid: np.ndarray, length: int) -> np.ndarray:
    """Missing samples replaced by the mean of the seen ones within ``length`` around them."""
    n = x.shape[0]
    half = length // 2
    idx = np.arange(n)
    lo = np.clip(idx - half, 0, n)
    hi = np.clip(idx + half + 1, 0, n)
    cx = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(np.where(valid, x, 0.0), axis=0)])
    cm = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(valid, axis=0)])
    count = cm[hi] - cm[lo]
    local = (cx[hi] - cx[lo]) / np.maximum(count, 1)
    return np.where(valid, x, np.where(count > 0, local, 0.0))


@dataclass
class _Grid:
    """Both people on the common time base, ready for the correlations."""

    times: np.ndarray   # (G,)
    x: np.ndarray       # (G, C) client, missing filled with the local mean
    y: np.ndarray       # (G, C) therapist, same
    vx: np.ndarray      # (G, C) bool
    vy: np.ndarray      # (G, C) bool


@dataclass
class _Windows:
    """The sliding windows of one session, with the sums every correlation needs.

    ``x``: the client's windows, (W, C, L); ``y``: for each window the therapist's span
    the lags reach, (W, C, L + 2K), so that any window of one can be paired with any span
    of the other (the real pairing, or a surrogate's). Both centred per signal (the
    correlations do not change; the sums stay well conditioned).
    """

    x: np.ndarray
    y: np.ndarray
    sx: np.ndarray    # (W, C) sums over the window
    sxx: np.ndarray
    nx: np.ndarray    # (W, C) seen samples
    sy: np.ndarray    # (W, 2K+1, C) sums over the window at each lag
    syy: np.ndarray
    ny: np.ndarray


def _strided_windows(a: np.ndarray, n_win: int, step: int, length: int, offset: int = 0) -> np.ndarray:
    """(n_win, C, length) copies of ``a`` (N, C) from ``offset + w * step``, signal-major."""
    r, c = a.strides
    view = np.lib.stride_tricks.as_strided(a[offset:], shape=(n_win, a.shape[1], length),
                                           strides=(step * r, c, r), writeable=False)
    return np.ascontiguousarray(view)


def _lagged_sums(spans: np.ndarray, window: int) -> np.ndarray:
    """(W, 2K+1, C): sums of each span (W, C, L + 2K) over ``window`` samples at each lag."""
    c = np.concatenate([np.zeros(spans.shape[:2] + (1,)), np.cumsum(spans, axis=2)], axis=2)
    return (c[:, :, window:] - c[:, :, :-window]).transpose(0, 2, 1)


def _windows(x: np.ndarray, vx: np.ndarray, y: np.ndarray, vy: np.ndarray, window: int, step: int,
             max_lag: int) -> _Windows:
    """The windows that have every lag inside the session (no edge sees fewer lags than the
    rest, so the real pairing and its surrogates pick peaks over the same lags)."""
    n = x.shape[0]
    n_win = (n - window - 2 * max_lag) // step + 1
    x = np.ascontiguousarray(x - x.mean(axis=0))
    y = np.ascontiguousarray(y - y.mean(axis=0))
    xw = _strided_windows(x, n_win, step, window, max_lag)
    yw = _strided_windows(y, n_win, step, window + 2 * max_lag)
    vxw = _strided_windows(np.ascontiguousarray(vx, dtype=np.float64), n_win, step, window, max_lag)
    vyw = _strided_windows(np.ascontiguousarray(vy, dtype=np.float64), n_win, step, window + 2 * max_lag)
    return _Windows(xw, yw, xw.sum(axis=2), (xw * xw).sum(axis=2), vxw.sum(axis=2),
                    _lagged_sums(yw, window), _lagged_sums(yw * yw, window), _lagged_sums(vyw, window))


def _correlations(w: _Windows, min_valid: float, pairs: Optional[np.ndarray] = None) -> np.ndarray:
    """(W, 2K+1, C) windowed cross-lagged Pearson correlations; NaN where a window has too
    few seen samples (or no variance). ``pairs`` (W',): the therapist span paired with each
    of the first W' client windows (a surrogate); by default each window's own.

    The cross products of all windows and lags come from one einsum over a strided view
    (nothing copied): about 10 ms for a 60-minute session.
    """
    n_x = w.x.shape[0] if pairs is None else pairs.shape[0]
    order = np.arange(n_x) if pairs is None else pairs
    x, sx, sxx, nx = w.x[:n_x], w.sx[:n_x], w.sxx[:n_x], w.nx[:n_x]
    spans = w.y[order]
    sy, syy, ny = w.sy[order], w.syy[order], w.ny[order]
    window = x.shape[2]
    n_lags = sy.shape[1]
    a, b, c = spans.strides
    lagged = np.lib.stride_tricks.as_strided(spans, shape=(n_x, spans.shape[1], n_lags, window),
                                             strides=(a, b, c, c), writeable=False)
    sxy = np.einsum("wcl,wcjl->wjc", x, lagged)
    cov = sxy - sx[:, None, :] * sy / window
    var_x = sxx[:, None, :] - sx[:, None, :] ** 2 / window
    var_y = syy - sy ** 2 / window
    den = np.sqrt(np.maximum(var_x, 0.0) * np.maximum(var_y, 0.0))
    enough = (nx[:, None, :] >= min_valid * window) & (ny >= min_valid * window) & (den > 1e-9 * window)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(enough, cov / np.where(enough, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def _fisher(r: np.ndarray) -> np.ndarray:
    return np.arctanh(np.clip(r, -0.999, 0.999))


def _session_statistic(r: np.ndarray) -> np.ndarray:
    """(C,) per signal: the mean over windows of the Fisher z of each window's peak r."""
    has = np.isfinite(r).any(axis=1)                       # (W, C)
    peak = np.where(has, np.nanmax(np.where(np.isfinite(r), r, -np.inf), axis=1), np.nan)
    z = _fisher(peak)
    count = has.sum(axis=0)
    return np.where(count > 0, np.nansum(np.where(has, z, 0.0), axis=0) / np.maximum(count, 1), np.nan)


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` that keeps no element in place (n >= 2)."""
    while True:
        p = rng.permutation(n)
        if not np.any(p == np.arange(n)):
            return p


def segment_shuffle(n_windows: int, per_segment: int, rng: np.random.Generator) -> np.ndarray:
    """A surrogate pairing: for each client window in whole segments of ``per_segment``
    windows, the therapist span it is paired with. Segments are shuffled with none left in
    place, each keeping its windows in order, so every surrogate window meets a stretch of
    the therapist's face from at least one segment away, whole (no seam inside a window,
    which would correlate with anything)."""
    n_seg = n_windows // per_segment
    order = _derangement(n_seg, rng)
    return (order[:, None] * per_segment + np.arange(per_segment)[None, :]).ravel()


def _parabolic_peak(profile: np.ndarray, i: int) -> float:
    """Sub-sample offset of a peak at ``i`` from a parabola through it and its neighbours."""
    if 0 < i < profile.shape[0] - 1 and np.all(np.isfinite(profile[i - 1:i + 2])):
        a, b, c = profile[i - 1], profile[i], profile[i + 1]
        den = a - 2 * b + c
        if den < 0:
            return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return 0.0


@dataclass
class SessionSynchrony:
    """How the two faces moved together over one session.

    ``peak_r`` / ``peak_lag_s``: per window and signal, the peak correlation and its lag
    (synchrony over time); ``lag_profile``: per lag and signal, the mean Fisher z over
    windows, whose peak gives ``lag_s`` and the ``leader``; ``statistic``: the session's
    mean peak Fisher z (all signals) and ``z`` its standing among the surrogates.
    ``z`` is None (with a ``reason``) when the two faces were not seen together long enough.
    """

    signals: tuple[str, ...]
    settings: SynchronySettings
    window_times: np.ndarray          # (W,) seconds, window centres
    peak_r: np.ndarray                # (W, C)
    peak_lag_s: np.ndarray            # (W, C)
    lags_s: np.ndarray                # (2K+1,)
    lag_profile: np.ndarray           # (2K+1, C)
    lag_s: Optional[float]
    statistic: Optional[float]
    surrogate_mean: Optional[float]
    surrogate_sd: Optional[float]
    z: Optional[float]
    signal_z: dict[str, Optional[float]] = field(default_factory=dict)
    reason: str = ""

    @property
    def leader(self) -> str:
        """"client" when the therapist follows (positive lag), "therapist" when they lead,
        "neither" when the peak is within one sample of zero or there is no estimate."""
        if self.lag_s is None or abs(self.lag_s) < 1.0 / self.settings.rate_hz:
            return "neither"
        return "client" if self.lag_s > 0 else "therapist"

    def synchrony_over_time(self) -> np.ndarray:
        """(W,) per window: the mean peak correlation over the signals seen in it."""
        r = self.peak_r
        has = np.isfinite(r)
        return np.where(has.any(axis=1), np.nansum(np.where(has, r, 0.0), axis=1)
                        / np.maximum(has.sum(axis=1), 1), np.nan)


def _common_grid(client: FaceSignals, therapist: FaceSignals, s: SynchronySettings) -> Optional[_Grid]:
    """Both people on one time base over the span both tracks cover; None when that span
    is shorter than one window with its lags either way."""
    if client.timestamps.size == 0 or therapist.timestamps.size == 0:
        return None
    start = max(client.timestamps[0], therapist.timestamps[0])
    end = min(client.timestamps[-1], therapist.timestamps[-1])
    if not end - start >= s.window_s + 2 * s.max_lag_s:
        return None
    times = start + np.arange(int(np.floor((end - start) * s.rate_hz)) + 1) / s.rate_hz
    x, vx = on_time_base(client, times, s.max_gap_s)
    y, vy = on_time_base(therapist, times, s.max_gap_s)
    window = int(round(s.window_s * s.rate_hz))
    return _Grid(times, _fill_local_mean(x, vx, window), _fill_local_mean(y, vy, window), vx, vy)


def session_synchrony(client: FaceSignals, therapist: FaceSignals,
                      settings: Optional[SynchronySettings] = None,
                      progress: Optional[Progress] = None) -> SessionSynchrony:
    """WCLC of the two faces over a session, with its z-score against segment-shuffled
    surrogates (see the module docstring). Client first: a positive lag is the therapist
    following. ``progress`` is reported (and its cancel token checked) per surrogate."""
    s = settings or SynchronySettings()
    prog = progress or Progress()
    window = int(round(s.window_s * s.rate_hz))
    step = max(1, int(round(s.step_s * s.rate_hz)))
    max_lag = int(round(s.max_lag_s * s.rate_hz))
    per_segment = max(1, int(round(s.segment_s / s.step_s)))
    lags_s = np.arange(-max_lag, max_lag + 1) / s.rate_hz
    c = len(SYNCHRONY_SIGNALS)

    def empty(reason: str) -> SessionSynchrony:
        return SessionSynchrony(SYNCHRONY_SIGNALS, s, np.zeros(0), np.zeros((0, c)), np.zeros((0, c)),
                                lags_s, np.full((lags_s.shape[0], c), np.nan), None, None, None, None,
                                None, {name: None for name in SYNCHRONY_SIGNALS}, reason)

    grid = _common_grid(client, therapist, s)
    if grid is None:
        return empty(f"the two faces share less than {s.window_s + 2 * s.max_lag_s:g} s of the recording")
    windows = _windows(grid.x, grid.vx, grid.y, grid.vy, window, step, max_lag)
    r = _correlations(windows, s.min_valid)
    n_win = r.shape[0]
    window_times = grid.times[max_lag + np.arange(n_win) * step + window // 2]
    has = np.isfinite(r).any(axis=1)
    peak_idx = np.argmax(np.where(np.isfinite(r), r, -np.inf), axis=1)
    peak_r = np.where(has, np.take_along_axis(r, peak_idx[:, None, :], axis=1)[:, 0, :], np.nan)
    peak_lag = np.where(has, lags_s[peak_idx], np.nan)
    if not has.any():
        return empty("no window had both faces seen for long enough")
    fz = _fisher(r)
    counts = np.isfinite(fz).sum(axis=0)
    profile = np.where(counts > 0, np.nansum(fz, axis=0) / np.maximum(counts, 1), np.nan)  # (L, C)
    per_signal = _session_statistic(r)
    used = np.isfinite(per_signal)
    statistic = float(np.mean(per_signal[used]))
    pooled = np.nanmean(profile[:, used], axis=1)
    i = int(np.nanargmax(pooled))
    lag_s = float((i - max_lag + _parabolic_peak(pooled, i)) / s.rate_hz)

    if n_win // per_segment < 3:
        result = empty(f"too short for surrogates: fewer than three {s.segment_s:g} s segments")
        result.window_times, result.peak_r, result.peak_lag_s = window_times, peak_r, peak_lag
        result.lag_profile, result.lag_s, result.statistic = profile, lag_s, statistic
        return result
    rng = np.random.default_rng(s.seed)
    surrogate = np.empty((s.n_surrogates, c))
    for j in range(s.n_surrogates):
        prog.check()
        prog.report(j / s.n_surrogates, "synchrony: surrogate pairings")
        pairs = segment_shuffle(n_win, per_segment, rng)
        surrogate[j] = _session_statistic(_correlations(windows, s.min_valid, pairs))
    pooled_sur = np.nanmean(np.where(used[None, :], surrogate, np.nan), axis=1)
    mean, sd = float(np.mean(pooled_sur)), float(np.std(pooled_sur, ddof=1))
    z = (statistic - mean) / sd if sd > 0 else None
    signal_z: dict[str, Optional[float]] = {}
    for k, name in enumerate(SYNCHRONY_SIGNALS):
        col = surrogate[:, k]
        ok = np.isfinite(col)
        if not used[k] or ok.sum() < 2 or np.std(col[ok], ddof=1) == 0:
            signal_z[name] = None
        else:
            signal_z[name] = float((per_signal[k] - col[ok].mean()) / np.std(col[ok], ddof=1))
    prog.report(1.0, "synchrony: done")
    return SessionSynchrony(SYNCHRONY_SIGNALS, s, window_times, peak_r, peak_lag, lags_s, profile, lag_s,
                            statistic, mean, sd, z, signal_z)


@dataclass(frozen=True)
class FlagMirroring:
    """Whether the therapist's face moved toward the client's after one flagged moment.

    ``changes``: per signal of :data:`MIRROR_SIGNALS`, (client change, therapist change)
    in AU intensity points against each one's own baseline before the flag (NaN where not
    measured).
    """

    verdict: str
    changes: dict[str, tuple[float, float]]


class _SpanMeans:
    """Means of one person's signals over many spans at once: prefix sums of the seen
    values, so a span's mean costs two lookups (an hour's flags in milliseconds)."""

    def __init__(self, sig: FaceSignals, min_share: float) -> None:
        ok = sig.seen[:, None] & np.isfinite(sig.values)
        zero = np.zeros((1, sig.values.shape[1]))
        self.t = sig.timestamps
        self.sums = np.concatenate([zero, np.cumsum(np.where(ok, sig.values, 0.0), axis=0)])
        self.counts = np.concatenate([zero, np.cumsum(ok, axis=0)])
        self.min_share = min_share

    def __call__(self, col: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """(F,) mean of column ``col`` over the seen frames of each ``[start, end)``; NaN
        where the face was seen in fewer than ``min_share`` of the frames (or none)."""
        lo = np.searchsorted(self.t, start, side="left")  # timestamps increase
        hi = np.searchsorted(self.t, end, side="left")
        n = hi - lo
        count = self.counts[hi, col] - self.counts[lo, col]
        total = self.sums[hi, col] - self.sums[lo, col]
        good = (n > 0) & (count >= self.min_share * n) & (count > 0)
        return np.where(good, total / np.maximum(count, 1), np.nan)


def flag_mirroring(client: FaceSignals, therapist: FaceSignals, start: float, end: float,
                   settings: Optional[SynchronySettings] = None) -> FlagMirroring:
    """Did the therapist's face move toward the client's in the seconds after a flag?

    The rule, per signal of :data:`MIRROR_SIGNALS` (smile AU12, lowered brow AU04):
    the client's change is their mean over the flag ``[start, end)`` minus their mean over
    the ``baseline_s`` before it; the therapist's change is their mean from ``start`` to
    ``follow_s`` after ``end`` minus their own baseline over the same pre-flag seconds. A
    signal counts when the client's change is at least ``client_change`` points; on it
    the therapist moved *toward* when their change has the same sign and at least
    ``therapist_change`` points, *away* when it has the opposite sign and that size.
    Verdict: "toward" (some signal toward, none away), "away" (the reverse), "mixed"
    (both), "no_change" (the client moved, the therapist did not), "client_still" (no
    signal counts), and first of all "not_seen": either face not measured on any signal
    (seen in less than ``min_seen_share`` of a span's frames, or off camera), or the
    therapist not measured on any signal the client moved on.
    """
    return flags_mirroring(client, therapist, [(start, end)], settings)[0]


def flags_mirroring(client: FaceSignals, therapist: FaceSignals,
                    spans: Sequence[tuple[float, float]],
                    settings: Optional[SynchronySettings] = None) -> list[FlagMirroring]:
    """:func:`flag_mirroring` of many flags (``(start, end)`` each) at once: the rule is
    the one documented there, the span means are vectorised over the flags."""
    s = settings or SynchronySettings()
    if not spans:
        return []
    span = np.asarray(spans, dtype=np.float64).reshape(-1, 2)
    starts, ends = span[:, 0], span[:, 1]
    bad = ~(ends >= starts)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CuewatchError(f"flag span ends ({ends[i]}) before it starts ({starts[i]})")
    c_mean, t_mean = _SpanMeans(client, s.min_seen_share), _SpanMeans(therapist, s.min_seen_share)
    per_signal = []
    for name in MIRROR_SIGNALS:
        col = SYNCHRONY_SIGNALS.index(name)
        c_base = c_mean(col, starts - s.baseline_s, starts)
        c_now = c_mean(col, starts, np.maximum(ends, starts + 1.0 / s.rate_hz))
        t_base = t_mean(col, starts - s.baseline_s, starts)
        t_now = t_mean(col, starts, ends + s.follow_s)
        per_signal.append((name, c_now - c_base, t_now - t_base))
    return [_mirroring_verdict({name: (float(dc[i]), float(dt[i])) for name, dc, dt in per_signal}, s)
            for i in range(span.shape[0])]


def _mirroring_verdict(changes: dict[str, tuple[float, float]], s: SynchronySettings) -> FlagMirroring:
    """The verdict of :func:`flag_mirroring` from each signal's (client, therapist) change
    (plain floats and ``math``: it runs once per flag on every recompute)."""
    client_seen = [dc for dc, _ in changes.values() if math.isfinite(dc)]
    counted = [(dc, dt) for dc, dt in changes.values() if math.isfinite(dc) and abs(dc) >= s.client_change]
    answered = [(dc, dt) for dc, dt in counted if math.isfinite(dt)]
    therapist_seen = any(math.isfinite(dt) for _, dt in changes.values())
    def sign(x: float) -> int:
        return (x > 0) - (x < 0)
    toward = sum(1 for dc, dt in answered if abs(dt) >= s.therapist_change and sign(dt) == sign(dc))
    away = sum(1 for dc, dt in answered if abs(dt) >= s.therapist_change and sign(dt) != sign(dc))
    if not client_seen or not therapist_seen or (counted and not answered):
        verdict = "not_seen"
    elif not counted:
        verdict = "client_still"
    elif toward and away:
        verdict = "mixed"
    elif toward:
        verdict = "toward"
    elif away:
        verdict = "away"
    else:
        verdict = "no_change"
    return FlagMirroring(verdict, changes)
