"""Expression on real faces through the real landmarker (no mocks).

The landmarker runs once per clip per module (module-scoped fixtures) at 15 fps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cuewatch.errors import CuewatchError
from cuewatch.evaluation.landmarks import LandmarkedFace, landmark_video
from cuewatch.expression.action_units import face_frame_points, geometry_measures
from cuewatch.expression.series import ExpressionSettings, estimate_expression, smooth_over_time
from cuewatch.formats import AU_NAMES, BLENDSHAPE_NAMES, EXPRESSION_CATEGORIES

AU = {name: i for i, name in enumerate(AU_NAMES)}
CAT = {name: i for i, name in enumerate(EXPRESSION_CATEGORIES)}
CODES = ("ANG", "FEA", "HAP", "NEU", "SAD")


@pytest.fixture(scope="module")
def crema(media_dir: Path, model_path: Path) -> dict[str, LandmarkedFace]:
    return {code: landmark_video(media_dir / "crema_d" / f"1001_DFA_{code}_XX.flv", model_path)
            for code in CODES}


@pytest.fixture(scope="module")
def actor(crema: dict[str, LandmarkedFace]):
    """The four clips as one track of actor 1001, with each clip's span."""
    track, spans = LandmarkedFace.concat([crema[c] for c in CODES])
    return track, dict(zip(CODES, spans))


@pytest.fixture(scope="module")
def pexels(media_dir: Path, model_path: Path) -> LandmarkedFace:
    return landmark_video(media_dir / "pexels" / "WolfgangLanger_Pexels.mp4", model_path)


def _mean(series, values, span):
    rows = (series.timestamps >= span[0]) & (series.timestamps <= span[1])
    return values[rows].mean(axis=0)


@pytest.mark.tuned
def test_happy_scores_happy_and_positive_over_neutral(actor):
    track, spans = actor
    series = track.expression()
    hap_happy = _mean(series, series.scores[:, CAT["happy"]], spans["HAP"])
    neu_happy = _mean(series, series.scores[:, CAT["happy"]], spans["NEU"])
    assert hap_happy > neu_happy + 0.2
    assert series.summary(*spans["HAP"])["category"] == "happy"
    hap_val = series.summary(*spans["HAP"])["valence"]
    neu_val = series.summary(*spans["NEU"])["valence"]
    assert hap_val > 0.3 and hap_val > neu_val + 0.3
    assert abs(neu_val) < series.settings.neutral_valence
    assert "AU12" in series.summary(*spans["HAP"])["aus"]


@pytest.mark.tuned
def test_au12_higher_when_happy(actor):
    track, spans = actor
    series = track.expression()
    au12 = series.au[:, AU["AU12"]]
    assert _mean(series, au12, spans["HAP"]) > _mean(series, au12, spans["NEU"]) + 1.0


@pytest.mark.tuned
def test_angry_negative_and_brows_lowered_against_marked_neutral(actor):
    track, spans = actor
    series = track.expression(neutral_span=spans["NEU"])
    assert series.neutral.method == "span"
    assert series.summary(*spans["ANG"])["valence"] < -series.settings.neutral_valence
    au04 = series.au[:, AU["AU04"]]
    assert _mean(series, au04, spans["ANG"]) > _mean(series, au04, spans["NEU"]) + 0.5


@pytest.mark.tuned
def test_sad_lip_corners_drop_against_marked_neutral(actor):
    track, spans = actor
    series = track.expression(neutral_span=spans["NEU"])
    au15 = series.au[:, AU["AU15"]]
    au12 = series.au[:, AU["AU12"]]
    assert _mean(series, au15, spans["SAD"]) > _mean(series, au15, spans["NEU"]) + 0.3
    # (corners are measured against the mouth centre, so speech no longer inflates AU15)
    assert _mean(series, au15, spans["SAD"]) > _mean(series, au15, spans["HAP"]) + 0.3
    assert _mean(series, au12, spans["SAD"]) < _mean(series, au12, spans["HAP"]) - 1.0


@pytest.mark.tuned
def test_fear_grimace_is_not_a_smile(actor):
    """FEA (seen as disgusted): stretched lips under widened eyes, no cheek raise."""
    track, spans = actor
    series = track.expression()
    fea, hap = series.summary(*spans["FEA"]), series.summary(*spans["HAP"])
    assert fea["valence"] < 0.0 and fea["category"] != "happy"
    assert hap["valence"] > 0.5 and hap["category"] == "happy"
    # the stretch is re-read as AU20 where the eyes widen without a cheek raise
    assert _mean(series, series.au[:, AU["AU20"]], spans["FEA"]) > 1.5


@pytest.mark.tuned
def test_angry_negative_and_sad_clip_near_neutral_with_automatic_neutral(actor):
    """Per-region neutral: the brow rest comes from the quietest brows, not quiet mouths."""
    track, spans = actor
    series = track.expression()
    assert series.neutral.method == "automatic"
    assert set(series.neutral.region_frames) == {"brows", "eyes", "mouth"}
    au04 = series.au[:, AU["AU04"]]
    assert _mean(series, au04, spans["ANG"]) > _mean(series, au04, spans["NEU"]) + 0.6
    ang = series.summary(*spans["ANG"])["valence"]
    # before the per-region neutral this was -0.01 (AU04 ~0.1). It sits near the neutral
    # threshold (-0.13 here, -0.16 with all six clips): ANG is negative, not strongly so.
    assert ang < -0.1 and ang < series.summary(*spans["NEU"])["valence"] - 0.05
    # SAD is seen as neutral by viewers: it must not read as clearly negative
    assert series.summary(*spans["SAD"])["valence"] > -0.25
    assert series.summary(*spans["SAD"])["valence"] > series.summary(*spans["ANG"])["valence"]


@pytest.mark.tuned
def test_crying_with_eyes_shut_reads_negative_and_smile_positive(pexels):
    """Eyes squeezed shut for seconds with the lips closed is crying, not a smile."""
    series = pexels.expression()
    crying = (series.timestamps >= 0.5) & (series.timestamps <= 5.5)
    seen = crying & (series.confidence >= 0.3)
    assert seen.sum() >= 10
    assert series.valence[seen].mean() < -0.3
    assert series.summary(0.5, 5.5)["category"] == "sad"
    assert series.summary(11.5, 18.5)["valence"] > 0.3


def test_sustained_closure_is_time_aware():
    from cuewatch.expression.series import ExpressionSettings, sustained_closure
    s = ExpressionSettings()
    t = np.arange(0, 4, 1 / 15)
    au45 = np.zeros_like(t)
    au45[(t >= 0.5) & (t < 0.7)] = 5.0      # a blink: 0.2 s
    au45[(t >= 2.0) & (t < 3.2)] = 5.0      # eyes held shut: 1.2 s
    out = sustained_closure(t, au45, s)
    assert out[(t >= 0.5) & (t < 0.7)].max() == 0.0
    assert out[(t >= 2.0) & (t < 3.2)].min() == 1.0
    # the same 1.2 s closure sampled at 5 fps is still sustained; a gap splits runs
    t5 = np.arange(0, 4, 0.2)
    assert sustained_closure(t5, np.where((t5 >= 2.0) & (t5 < 3.2), 5.0, 0.0), s).max() == 1.0
    tg = np.r_[np.arange(0, 0.3, 1 / 15), np.arange(5, 5.3, 1 / 15)]
    assert sustained_closure(tg, np.full(tg.size, 5.0), s).max() == 0.0


@pytest.mark.tuned
def test_confidence_drops_where_a_hand_covers_the_face(pexels):
    series = pexels.expression()
    covered = _mean(series, series.confidence, (3.0, 9.0))
    clear = _mean(series, series.confidence, (12.0, 18.0))
    assert clear > 0.75
    assert covered < clear - 0.35


def test_automatic_neutral_is_not_a_held_wide_eyed_face():
    """Half the frames: resting eyes that the blendshapes read as "squinting" (anatomy:
    resting faces read eyeSquint 0.2 to 0.7); half: eyes held wide. The neutral eyes are the
    resting ones, though their raw blendshape sum is the larger."""
    from cuewatch.expression.action_units import (
        GEOMETRY_NAMES,
        AUSettings,
        action_unit_intensities,
        neutral_reference,
    )
    n = 120
    t = np.arange(n) / 15.0
    rest, wide = np.arange(0, n, 2), np.arange(1, n, 2)
    rng = np.random.default_rng(0)
    geometry = rng.normal(0.0, 0.002, (n, len(GEOMETRY_NAMES)))
    geometry[:, GEOMETRY_NAMES.index("eye_aperture")] += np.where(np.arange(n) % 2, 0.20, 0.13)
    bs = np.zeros((n, len(BLENDSHAPE_NAMES)))
    for side in ("Left", "Right"):
        bs[rest, BLENDSHAPE_NAMES.index("eyeSquint" + side)] = 0.4
        bs[rest, BLENDSHAPE_NAMES.index("eyeBlink" + side)] = 0.15
        bs[wide, BLENDSHAPE_NAMES.index("eyeWide" + side)] = 0.25
    ref = neutral_reference(t, geometry, bs, np.ones(n))
    assert set(ref.region_frames["eyes"]) <= set(rest)
    au = action_unit_intensities(geometry, bs, ref, AUSettings())
    assert au[wide, AU["AU05"]].mean() > 2.0 and au[rest, AU["AU05"]].mean() < 0.5


def test_a_broad_felt_smile_is_not_read_as_disgust():
    """AU6+12 at full strength brings AU9/AU10-like wrinkles (FACS); a disgust face, with
    its partial lip-corner pull and slight squint, stays disgust."""
    from cuewatch.expression.series import (
        ExpressionSettings,
        prototype_scores,
        reread_smile_wrinkles,
        valence_from_scores,
    )
    s = ExpressionSettings()
    au = np.zeros((2, len(AU_NAMES)))
    au[0, [AU["AU06"], AU["AU12"], AU["AU09"], AU["AU10"], AU["AU25"]]] = [5.0, 5.0, 3.9, 5.0, 5.0]
    au[1, [AU["AU06"], AU["AU12"], AU["AU09"], AU["AU10"], AU["AU04"]]] = [1.0, 2.5, 4.2, 3.0, 2.0]
    scores = prototype_scores(reread_smile_wrinkles(au, s), np.zeros(2), s)
    valence = valence_from_scores(scores, s)
    assert valence[0] > 0.9 and scores[0, CAT["disgusted"]] < 0.05
    assert valence[1] < -0.5 and scores[1, CAT["disgusted"]] > 0.4
    # without the re-reading the smile lost a third of its valence to "disgust"
    raw = valence_from_scores(prototype_scores(au, np.zeros(2), s), s)
    assert raw[0] < 0.7


def test_flicker_counts_jitter_not_movement():
    """Jitter turns back every frame; an onset, however fast, goes one way."""
    from cuewatch.expression.series import _neighbour_flicker
    t = np.arange(12) / 15.0
    jitter = np.where(np.arange(12) % 2 == 0, 0.05, -0.05)[:, None]
    step = np.where(np.arange(12) < 6, 0.0, 0.8)[:, None]
    ramp = np.linspace(0.0, 1.0, 12)[:, None]
    assert np.allclose(_neighbour_flicker(t, jitter)[1:-1], 0.1)
    assert _neighbour_flicker(t, step).max() == 0.0
    assert _neighbour_flicker(t, ramp).max() == 0.0
    # points: a landmark shaking back and forth, against one sweeping across
    shake = np.zeros((12, 1, 3))
    shake[::2, 0, 0] = 0.02
    sweep = np.zeros((12, 1, 3))
    sweep[:, 0, 1] = np.linspace(0.0, 0.5, 12)
    assert np.allclose(_neighbour_flicker(t, shake)[1:-1], 0.02)
    assert _neighbour_flicker(t, sweep).max() == 0.0


@pytest.mark.tuned
def test_a_talking_mouth_does_not_read_as_a_covered_face(crema):
    """Every CREMA-D clip is a frontal, unoccluded face speaking a sentence: the lips and
    jaw move fast, and that is speech, not a hand. The face stays reliably seen."""
    for code, track in crema.items():
        series = track.expression()
        assert series.confidence.mean() > 0.8, (code, series.confidence.mean())
        assert np.quantile(series.confidence, 0.1) > 0.5, code


@pytest.mark.tuned
def test_automatic_neutral_survives_a_held_smile(crema):
    """80% of frames smiling (real HAP frames), 20% neutral (real NEU frames)."""
    hap, neu = crema["HAP"], crema["NEU"]
    smile = hap.blendshapes[:, BLENDSHAPE_NAMES.index("mouthSmileLeft")]
    smiling = np.flatnonzero(smile > 0.6)
    assert smiling.size >= 5, "the HAP clip should have clearly smiling frames"
    n_neu = len(neu)
    rows_smile = np.resize(smiling, 4 * n_neu)
    parts = [(hap, rows_smile[: 2 * n_neu]), (neu, np.arange(n_neu)), (hap, rows_smile[2 * n_neu:])]
    fields = ("landmarks", "blendshapes", "pose", "bbox", "confidence")
    arrays = {f: np.concatenate([getattr(tr, f)[rows] for tr, rows in parts]) for f in fields}
    n = arrays["landmarks"].shape[0]
    t = np.arange(n) / 15.0
    series = estimate_expression(t, arrays["landmarks"], arrays["blendshapes"], arrays["pose"],
                                 arrays["bbox"], arrays["confidence"])
    neutral_part = (2 * n_neu, 3 * n_neu)
    smile_rows = np.r_[0:2 * n_neu, 3 * n_neu:n]
    # the neutral frames read as they read against the neutral clip's own rest face (a
    # 2 s sentence reads a little negative against its own pauses), not as the opposite
    # of the held smile ...
    alone = neu.expression()
    held = series.summary(t[neutral_part[0]], t[neutral_part[1] - 1])
    assert held["category"] == "neutral"
    assert abs(held["valence"] - alone.summary()["valence"]) < 0.1
    assert series.au[slice(*neutral_part), AU["AU12"]].mean() < 1.0
    # ... and the smile still reads as a smile
    assert series.valence[smile_rows].mean() > 0.3
    assert np.mean(series.dominant[smile_rows] == CAT["happy"]) > 0.6
    # the median face (OpenFace's assumption) would have been the smile
    assert set(series.neutral.frames) & set(range(*neutral_part))


def test_memmapped_landmarks_give_the_same_result(crema, tmp_path):
    tr = crema["HAP"]
    mm = np.lib.format.open_memmap(tmp_path / "lm.npy", mode="w+", dtype=np.float32,
                                   shape=tr.landmarks.shape)
    mm[:] = tr.landmarks
    mm.flush()
    loaded = np.load(tmp_path / "lm.npy", mmap_mode="r")
    a = tr.expression()
    b = estimate_expression(tr.timestamps, loaded, tr.blendshapes, tr.pose, tr.bbox, tr.confidence)
    np.testing.assert_allclose(a.valence, b.valence, atol=1e-5)
    np.testing.assert_allclose(a.au, b.au, atol=1e-4)


def test_geometry_does_not_depend_on_head_rotation(crema):
    """Rotating the landmarks in 3D leaves the face-frame measures unchanged."""
    lm = crema["NEU"].landmarks.astype(np.float64)
    a = np.radians(25.0)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    centre = lm.mean(axis=1, keepdims=True)
    turned = ((lm - centre) @ rot.T + centre).astype(np.float32)
    g0 = geometry_measures(face_frame_points(lm.astype(np.float32))[0])
    g1 = geometry_measures(face_frame_points(turned)[0])
    np.testing.assert_allclose(g0, g1, atol=1e-4)


def test_bad_input_is_a_clear_error(crema):
    tr = crema["NEU"]
    with pytest.raises(CuewatchError, match="blendshapes"):
        estimate_expression(tr.timestamps, tr.landmarks, tr.blendshapes[:, :10], tr.pose,
                            tr.bbox, tr.confidence)
    with pytest.raises(CuewatchError, match="neutral span"):
        tr.expression(neutral_span=(500.0, 510.0))
    with pytest.raises(CuewatchError, match="backwards"):
        estimate_expression(tr.timestamps[::-1], tr.landmarks, tr.blendshapes, tr.pose,
                            tr.bbox, tr.confidence)


def test_smoothing_is_time_aware_across_gaps():
    t = np.r_[np.arange(0, 2, 1 / 15), np.arange(10, 12, 0.05)]
    v = np.r_[np.zeros(30), np.ones(40)]
    out = smooth_over_time(t, v, np.ones_like(t), 0.12)
    assert np.all(out[:30] == 0) and np.allclose(out[30:], 1)
    step = np.r_[np.zeros(30), np.ones(30)]
    tt = np.arange(60) / 15
    sm = smooth_over_time(tt, step, np.ones(60), 0.12)
    assert 0 < sm[29] < 0.5 < sm[30] < 1 and sm[25] == 0 and sm[35] == 1


def test_smoothing_stops_at_a_shot_cut():
    tt = np.arange(60) / 15
    step = np.r_[np.zeros(30), np.ones(30)]
    shots = np.r_[np.zeros(30, int), np.ones(30, int)]
    sm = smooth_over_time(tt, step, np.ones(60), 0.12, shots)
    assert np.all(sm[:30] == 0) and np.allclose(sm[30:], 1)
    # without the cut the same step is blurred across the boundary
    assert smooth_over_time(tt, step, np.ones(60), 0.12)[29] > 0


def _cut_track(crema, shift_px: float, scale: float):
    """Real NEU frames, then real HAP frames at 15 fps; the HAP part is moved in the frame
    by ``shift_px`` and scaled by ``scale`` (an edit to another framing when large)."""
    neu, hap = crema["NEU"], crema["HAP"]
    lm_h = hap.landmarks.astype(np.float64)
    centre = lm_h[:, :, :2].mean(axis=(0, 1))
    lm_h[:, :, :2] = (lm_h[:, :, :2] - centre) * scale + centre + [shift_px, 0.0]
    lm_h[:, :, 2] *= scale
    box_h = np.column_stack([lm_h[:, :, 0].min(1), lm_h[:, :, 1].min(1),
                             lm_h[:, :, 0].max(1), lm_h[:, :, 1].max(1)])
    arrays = dict(landmarks=np.concatenate([neu.landmarks, lm_h.astype(np.float32)]),
                  blendshapes=np.concatenate([neu.blendshapes, hap.blendshapes]),
                  pose=np.concatenate([neu.pose, hap.pose]),
                  bbox=np.concatenate([neu.bbox, box_h.astype(np.float32)]),
                  detection_confidence=np.concatenate([neu.confidence, hap.confidence]))
    t = np.arange(arrays["landmarks"].shape[0]) / 15.0
    return t, arrays, len(neu)


def test_a_cut_in_the_face_track_is_found_and_not_smoothed_across(crema):
    """Smiling frames after an edit must not make the last frames before it read happy."""
    from cuewatch.expression.series import ExpressionSettings, shot_ids
    s = ExpressionSettings()
    # continuous real motion (the clips themselves) has no cut
    for code in ("NEU", "HAP", "ANG"):
        tr = crema[code]
        pts = face_frame_points(tr.landmarks)[0]
        assert shot_ids(tr.timestamps, pts, tr.bbox, s).max() == 0
    # an edit to another framing: moved in the frame, or nearer the camera
    for shift, scale in ((150.0, 1.0), (0.0, 1.4)):
        t, arrays, n_neu = _cut_track(crema, shift_px=shift, scale=scale)
        ids = shot_ids(t, face_frame_points(arrays["landmarks"])[0], arrays["bbox"], s)
        assert ids[n_neu - 1] == 0 and ids[n_neu] == 1 and ids.max() == 1
    t, arrays, n_neu = _cut_track(crema, shift_px=150.0, scale=1.0)
    cut = estimate_expression(t, **arrays)
    # geometry is in face units: the same faces, unmoved, are one continuous shot
    t0, same, _ = _cut_track(crema, shift_px=0.0, scale=1.0)
    joined = estimate_expression(t0, **same)
    np.testing.assert_allclose(cut.au_raw, joined.au_raw, atol=1e-3)
    last = slice(n_neu - 2, n_neu)
    # the smile is not smeared into the last neutral frames across the cut ...
    assert cut.au[last, AU["AU12"]].max() < joined.au[last, AU["AU12"]].max() - 0.3
    assert cut.au[last, AU["AU12"]].max() <= cut.au_raw[n_neu - 4:n_neu, AU["AU12"]].max() + 1e-3
    # ... while within a shot the smoothing is unchanged
    np.testing.assert_allclose(cut.au[5:n_neu - 5], joined.au[5:n_neu - 5], atol=1e-4)


def _frames(parts) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The face arrays of (LandmarkedFace, rows) parts, one after the other."""
    fields = ("landmarks", "blendshapes", "pose", "bbox", "confidence")
    return {f: np.concatenate([getattr(tr, f)[rows] for tr, rows in parts]) for f in fields}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_automatic_neutral_is_found_when_a_quarter_of_frames_in_any_order(crema, seed):
    """Issue 12.3: actor 1001's neutral frames (the NEU clip) are a quarter of his frames,
    shuffled among his expressive ones; the neutral found is close to the marked one."""
    from cuewatch.expression.action_units import (
        SOURCE_FOUND,
        action_unit_intensities,
        neutral_reference,
    )
    rng = np.random.default_rng(seed)
    neu = crema["NEU"]
    expressive = [(crema[c], np.arange(len(crema[c]))) for c in ("ANG", "FEA", "HAP", "SAD")]
    pool = _frames(expressive)
    pick = rng.choice(len(pool["blendshapes"]), size=3 * len(neu), replace=False)
    frames = {f: np.concatenate([getattr(neu, f), pool[f][pick]]) for f in pool}
    order = rng.permutation(len(frames["blendshapes"]))
    frames = {f: v[order] for f, v in frames.items()}
    is_neu = order < len(neu)
    t = np.arange(order.size) / 15.0
    geometry = geometry_measures(face_frame_points(frames["landmarks"])[0])
    found = neutral_reference(t, geometry, frames["blendshapes"], frames["confidence"])
    assert found.source == SOURCE_FOUND and found.method == "automatic"
    # the brows' rest comes from neutral frames (his expressive brows are never at rest)
    assert is_neu[found.region_frames["brows"]].mean() > 0.6
    # what marking the neutral frames would give: their own reference
    marked = neutral_reference(t[is_neu], geometry[is_neu], frames["blendshapes"][is_neu],
                               frames["confidence"][is_neu], neutral_span=(0.0, t[-1] + 1))
    assert marked.source == "marked"
    g_neu, b_neu = geometry[is_neu], frames["blendshapes"][is_neu]
    au_found = action_unit_intensities(g_neu, b_neu, found)
    au_true = action_unit_intensities(g_neu, b_neu, marked)
    # the neutral frames read (nearly) as they read against their own marked neutral
    assert np.abs(au_found - au_true).mean() < 0.15
    assert np.abs(au_found.sum(axis=1).mean() - au_true.sum(axis=1).mean()) < 2.0


def test_a_held_smile_has_no_neutral_and_is_read_person_independently(crema):
    """Issue 12.3: frames of a held smile only (no resting face among them): no neutral is
    found, and the smile reads as a smile (against the population's rest face), not as
    "neutral" as when its least active frames were taken for the person's neutral."""
    from cuewatch.expression.action_units import GEOMETRY_NAMES, SOURCE_NONE
    hap = crema["HAP"]
    smiling = np.flatnonzero(hap.blendshapes[:, BLENDSHAPE_NAMES.index("mouthSmileLeft")] > 0.6)
    assert smiling.size >= 10
    rows = np.resize(smiling, 3 * smiling.size)   # held for a while
    frames = _frames([(hap, rows)])
    t = np.arange(rows.size) / 15.0
    series = estimate_expression(t, frames["landmarks"], frames["blendshapes"], frames["pose"],
                                 frames["bbox"], frames["confidence"])
    # the smile holds the mouth and the cheeks (eyes); the brows may well rest meanwhile
    ref = series.neutral
    assert ref.region_sources["mouth"] == ref.region_sources["eyes"] == SOURCE_NONE
    assert SOURCE_NONE in ref.source and "mouth" in ref.source and "eyes" in ref.source
    assert np.isnan(ref.geometry[GEOMETRY_NAMES.index("corner_vs_nose")])
    summary = series.summary()
    assert summary["category"] == "happy" and summary["valence"] > 0.3
    assert series.au[:, AU["AU12"]].mean() > 2.5



def _screened() -> tuple[ExpressionSettings, object]:  # the "screened" rest search (off by default)
    from cuewatch.expression import fitted
    from cuewatch.expression.action_units import AUSettings
    from cuewatch.expression.series import neutral_scorer
    return ExpressionSettings(au=AUSettings(rest_search="screened")), neutral_scorer(fitted.load_model())


def test_screened_rest_search_takes_its_rest_from_the_neutral_frames_of_a_held_smile(crema):
    """Issue 12.3, ``rest_search = "screened"``: 80% held smile (real HAP frames), 20% real
    NEU frames. The person-independent fitted reading finds only the neutral frames possibly
    neutral, so the rest is theirs alone (the default search takes 43% smiling frames), and
    they read as with the neutral clip marked."""
    settings, _ = _screened()
    hap, neu = crema["HAP"], crema["NEU"]
    smiling = np.flatnonzero(hap.blendshapes[:, BLENDSHAPE_NAMES.index("mouthSmileLeft")] > 0.6)
    n_neu = len(neu)
    rows_smile = np.resize(smiling, 4 * n_neu)
    frames = _frames([(hap, rows_smile[: 2 * n_neu]), (neu, np.arange(n_neu)), (hap, rows_smile[2 * n_neu:])])
    t = np.arange(frames["landmarks"].shape[0]) / 15.0
    args = (t, frames["landmarks"], frames["blendshapes"], frames["pose"], frames["bbox"], frames["confidence"])
    series = estimate_expression(*args, settings=settings)
    default = estimate_expression(*args)
    neutral_part = set(range(2 * n_neu, 3 * n_neu))
    assert series.neutral.source == "found" and set(series.neutral.frames) <= neutral_part
    assert not set(default.neutral.frames) <= neutral_part
    marked = neu.expression(neutral_span=(neu.timestamps[0] - 0.01, neu.timestamps[-1] + 0.01))
    held = series.summary(t[2 * n_neu], t[3 * n_neu - 1])
    assert held["category"] == "neutral"
    assert abs(held["valence"] - marked.summary()["valence"]) < 0.1
    smile = series.summary(t[0], t[2 * n_neu - 1])
    assert smile["category"] == "happy" and smile["valence"] > 0.5


def test_screened_rest_search_finds_none_in_a_held_smile_and_a_rest_among_a_quarter(crema):
    """``rest_search = "screened"``: a held smile has no frame the fitted reading finds
    possibly neutral, so no region has a neutral (the default finds resting brows there);
    actor 1001's neutral frames a quarter of his frames, shuffled: a rest is found, its
    brows from the neutral frames, and his angry clip still lowers the brows against it."""
    from cuewatch.expression.action_units import SOURCE_FOUND, SOURCE_NONE, neutral_reference
    settings, scorer = _screened()
    hap = crema["HAP"]
    smiling = np.flatnonzero(hap.blendshapes[:, BLENDSHAPE_NAMES.index("mouthSmileLeft")] > 0.6)
    held = _frames([(hap, np.resize(smiling, 3 * smiling.size))])
    t = np.arange(held["landmarks"].shape[0]) / 15.0
    series = estimate_expression(t, held["landmarks"], held["blendshapes"], held["pose"], held["bbox"],
                                 held["confidence"], settings=settings)
    assert series.neutral.source == SOURCE_NONE
    assert series.summary()["category"] == "happy" and series.summary()["valence"] > 0.3
    rng = np.random.default_rng(0)
    neu = crema["NEU"]
    pool = _frames([(crema[c], np.arange(len(crema[c]))) for c in ("ANG", "FEA", "HAP", "SAD")])
    pick = rng.choice(len(pool["blendshapes"]), size=3 * len(neu), replace=False)
    frames = {f: np.concatenate([getattr(neu, f), pool[f][pick]]) for f in pool}
    order = rng.permutation(len(frames["blendshapes"]))
    frames = {f: v[order] for f, v in frames.items()}
    is_neu = order < len(neu)
    geometry = geometry_measures(face_frame_points(frames["landmarks"])[0])
    found = neutral_reference(np.arange(order.size) / 15.0, geometry, frames["blendshapes"],
                              frames["confidence"], settings=settings.au, scorer=scorer)
    assert found.source == SOURCE_FOUND and is_neu[found.region_frames["brows"]].mean() > 0.6
    track, spans = LandmarkedFace.concat([crema[c] for c in CODES])
    spans = dict(zip(CODES, spans))
    actor = track.expression(settings=settings)
    au04 = actor.au[:, AU["AU04"]]
    assert _mean(actor, au04, spans["ANG"]) > _mean(actor, au04, spans["NEU"]) + 0.5
