"""analyze_video on real recordings: tracks that start and end where the video says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cuewatch.faces.face_pass as analysis
from cuewatch.faces.face_pass import analyze_video, plan_chunks
from cuewatch.features.folder import load_features
from cuewatch.media.video import FrameReader, probe_video
from cuewatch.options import AnalysisSettings
from cuewatch.progress import Cancelled, Progress

#: the two-person eval shots are long for a test: analyse them at 5 fps.
WIDE = AnalysisSettings(fps=5.0)


def _cut_time(path: Path) -> float:
    """The first hard cut in a clip: a jump between consecutive frames far above the usual.

    (noface_face.mov jumps back to its title card on its very last frame, so the first
    cut, not the biggest, is the one between title card and face.)
    """
    import cv2

    times, diffs, prev = [], [], None
    for frame in FrameReader(probe_video(path), AnalysisSettings(fps=None)):
        small = cv2.resize(frame.image, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)
        if prev is not None:
            diffs.append(float(np.abs(small - prev).mean()))
            times.append(frame.timestamp)
        prev = small
    jumps = np.flatnonzero(np.asarray(diffs) > 10 * (np.median(diffs) + 1.0))
    assert len(jumps), "no clear cut in the clip"
    return times[int(jumps[0])]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, media_dir: Path, eval_dir: Path, model_path: Path, analysed_features):
    """Features of a clip: from the session's feature cache, or, with face-pass options the
    cache key leaves out (``workers``), from a face pass of this module's own."""
    out = tmp_path_factory.mktemp("features")
    cache: dict[str, Path] = {}

    def get(name: str, settings: AnalysisSettings = AnalysisSettings(), **kw):
        key = f"{name}-{settings.fps}-{sorted(kw.items())}"
        if key not in cache:
            src = (media_dir / name) if (media_dir / name).exists() else eval_dir / name
            cache[key] = (analyze_video(src, settings, model_path, out / str(len(cache)), **kw) if kw
                          else analysed_features(src, settings))
        return load_features(cache[key])

    return get


def test_no_track_without_a_face(analysed):
    f = analysed("robustness/no_face.mp4")
    assert len(f.frame_index) > 50
    assert f.tracks == {}


@pytest.mark.parametrize("name,ends", [("robustness/face_noface.mov", True),
                                       ("robustness/noface_face.mov", False)])
def test_track_ends_or_starts_at_the_cut(analysed, media_dir: Path, name: str, ends: bool):
    cut = _cut_time(media_dir / name)
    f = analysed(name)
    assert len(f.tracks) == 1, {t: (tr.timestamp[0], tr.timestamp[-1]) for t, tr in f.tracks.items()}
    track = next(iter(f.tracks.values()))
    edge = float(track.timestamp[-1] if ends else track.timestamp[0])
    assert abs(edge - cut) <= 0.5, (edge, cut)
    # and the face is there on the other side of the cut all along
    side = f.frame_time < cut if ends else f.frame_time >= cut + 0.5
    assert len(track) >= 0.9 * side.sum()


def _two_people(f) -> None:
    n = len(f.frame_index)
    stable = {tid: tr for tid, tr in f.tracks.items() if len(tr) >= 0.9 * n}
    assert len(stable) == 2, {tid: len(tr) / n for tid, tr in f.tracks.items()}
    left, right = sorted(stable.values(), key=lambda tr: float(tr.bbox[:, 0].mean()))
    width = f.meta["video"]["width"]
    assert float(left.bbox[:, 2].max()) < width / 2 < float(right.bbox[:, 0].min())
    for tr in (left, right):
        assert np.all(np.diff(tr.frame) > 0)
        lm = tr.landmarks(slice(0, 3))
        assert lm.shape == (3, 478, 3)
        assert np.all(lm[:, :, 0] >= tr.bbox[:3, 0:1] - 1) and np.all(lm[:, :, 0] <= tr.bbox[:3, 2:3] + 1)


def test_crema_small_two_stable_tracks(analysed):
    f = analysed("crema_small.mp4", WIDE)
    assert (f.meta["video"]["width"], f.meta["video"]["height"]) == (1920, 1080)
    _two_people(f)


def test_crema_wide_two_stable_tracks_across_parallel_chunks(analysed, monkeypatch):
    # force the chunked path on two threads: tracklets of all chunks must link into two people
    monkeypatch.setattr(analysis, "MIN_SPLIT_S", 5.0)
    monkeypatch.setattr(analysis, "CHUNK_TARGET_S", 10.0)
    f = analysed("crema_wide.mp4", WIDE, workers=2)
    assert len(f.meta["chunks"]) >= 2 and f.meta["tracklets"] >= 4
    assert f.meta["workers"] == 2
    _two_people(f)
    # chunks join without a gap or a repeated frame
    assert np.all(np.diff(f.frame_index) > 0)

    # the chunk threads do not disturb one another: one worker gives the same features
    g = analysed("crema_wide.mp4", WIDE, workers=1)
    assert g.meta["workers"] == 1 and g.meta["chunks"] == f.meta["chunks"]
    np.testing.assert_array_equal(f.frame_index, g.frame_index)
    assert sorted(f.tracks) == sorted(g.tracks)
    for tid, a in f.tracks.items():
        b = g.tracks[tid]
        np.testing.assert_array_equal(a.frame, b.frame)
        np.testing.assert_array_equal(a.blendshapes, b.blendshapes)
        np.testing.assert_array_equal(a.landmarks(), b.landmarks())


def test_cancel_stops_every_chunk_thread(eval_dir: Path, model_path: Path, tmp_path: Path,
                                         monkeypatch):
    import threading

    monkeypatch.setattr(analysis, "MIN_SPLIT_S", 5.0)
    monkeypatch.setattr(analysis, "CHUNK_TARGET_S", 10.0)
    cancel = threading.Event()
    seen: list[float] = []

    def report(fraction: float, _message: str) -> None:
        seen.append(fraction)
        if fraction > 0.05:
            cancel.set()

    with pytest.raises(Cancelled):
        analyze_video(eval_dir / "crema_wide.mp4", WIDE, model_path, tmp_path / "f",
                      progress=Progress(report, cancel), workers=2)
    assert 0.0 < max(seen) < 0.9
    assert not [t for t in threading.enumerate() if t.name.startswith(("cuewatch-chunk",
                                                                       "cuewatch-decode"))]
    assert not (tmp_path / "f" / "meta.json").exists()
    assert not (tmp_path / "f" / "chunks").exists()


def test_plan_chunks_depends_on_duration_only():
    assert plan_chunks(10.0) == [(0.0, None)]
    long = plan_chunks(3600.0)
    assert len(long) % 2 == 0 and long[0][0] == 0.0 and long[-1][1] is None
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(long, long[1:]))


def test_cancel_stops_analysis(media_dir: Path, model_path: Path, tmp_path: Path):
    class Stop:
        def is_set(self) -> bool:
            return True

    with pytest.raises(Cancelled):
        analyze_video(media_dir / "pexels" / "WolfgangLanger_Pexels.mp4", AnalysisSettings(),
                      model_path, tmp_path / "f", progress=Progress(cancel=Stop()))
