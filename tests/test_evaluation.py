"""Evaluation by person (issue 12 §1) and the fitted reading (§2)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cuewatch.errors import CuewatchError
from cuewatch.evaluation import by_person, data
from cuewatch.evaluation.items import LabelledItem, canonical_label, shared_media_items
from cuewatch.evaluation.landmark_cache import cached_faces
from cuewatch.evaluation.landmarks import landmark_video
from cuewatch.evaluation.metrics import expected_calibration_error, score, valence_sign
from cuewatch.expression import fitted
from cuewatch.expression.series import NO_NEUTRAL, ExpressionSettings
from cuewatch.formats import AU_NAMES, EXPRESSION_CATEGORIES, NEUTRAL_BAND


def _onehot(names: list[str], p: float = 0.9) -> np.ndarray:
    out = np.full((len(names), len(EXPRESSION_CATEGORIES)), (1 - p) / (len(EXPRESSION_CATEGORIES) - 1))
    for i, n in enumerate(names):
        out[i, EXPRESSION_CATEGORIES.index(n)] = p
    return out


def test_scores_count_accuracy_recall_f1_confusion_and_valence_sign() -> None:
    labels = ["happy", "happy", "sad", "angry", "neutral", "contempt"]
    said = ["happy", "sad", "sad", "sad", "neutral", "contempt"]
    valence = np.array([0.5, -0.5, -0.4, -0.2, 0.0, -0.3])
    seven = tuple(c for c in EXPRESSION_CATEGORIES if c != "contempt")
    s = score(labels, _onehot(said), valence, seven)
    assert s.n == 5                                  # the contempt item is not a 7-class item
    assert s.accuracy == pytest.approx(3 / 5)
    assert s.recall == {"neutral": 1.0, "happy": 0.5, "sad": 1.0, "angry": 0.0}
    assert s.confusion[seven.index("angry"), seven.index("sad")] == 1
    # F1 per class present: neutral 1, happy 2/3, sad 2*1/(1+3)=0.5, angry 0
    assert s.macro_f1 == pytest.approx((1 + 2 / 3 + 0.5 + 0) / 4)
    assert s.valence_accuracy == pytest.approx(4 / 5)  # happy said sad: its sign is wrong
    s8 = score(labels, _onehot(said), valence)
    assert s8.n == 6 and s8.accuracy == pytest.approx(4 / 6)


def test_valence_sign_uses_the_neutral_band() -> None:
    v = np.array([NEUTRAL_BAND, NEUTRAL_BAND - 1e-3, -NEUTRAL_BAND, -NEUTRAL_BAND + 1e-3])
    assert valence_sign(v).tolist() == [1, 0, -1, 0]


def test_expected_calibration_error_is_the_gap_between_confidence_and_accuracy() -> None:
    assert expected_calibration_error(np.full(10, 0.95), np.ones(10, bool)) == pytest.approx(0.05)
    conf = np.r_[np.full(4, 0.85), np.full(6, 0.25)]
    ok = np.r_[[True, True, False, False], [True, False, False, False, False, False]]
    assert expected_calibration_error(conf, ok) == pytest.approx((4 * 0.35 + 6 * (0.25 - 1 / 6)) / 10)


def test_labels_are_canonical_and_unknown_ones_are_refused() -> None:
    assert canonical_label("HAPPINESS") == "happy" and canonical_label("anger") == "angry"
    with pytest.raises(CuewatchError, match="unknown expression label"):
        canonical_label("bored")
    with pytest.raises(CuewatchError, match="unknown label"):
        LabelledItem("x", Path("x.jpg"), "image", "bored", "p", "s", "l", False)


def test_shared_media_items_carry_person_labels_and_licences(media_dir: Path) -> None:
    items = shared_media_items(media_dir)
    crema = [i for i in items if i.source == "crema_d"]
    assert {i.person for i in crema} == {"crema_d/1001"} and len(crema) == 6
    assert {i.path.stem.split("_")[2]: i.label for i in crema}["SAD"] == "neutral"  # perceived
    assert all(i.fit_ok for i in crema)
    assert not any(i.fit_ok for i in items if i.source in ("ravdess", "pexels"))
    assert len({i.person for i in items if i.kind == "image"}) == len([i for i in items if i.kind == "image"])


def test_muxspace_people_are_the_lfw_name_stems() -> None:
    assert data.muxspace_person("George_W_Bush_0012.jpg") == "muxspace/George_W_Bush"
    assert data.muxspace_person("SharmilaTagore_82.jpg") == "muxspace/SharmilaTagore"
    assert data.muxspace_person("facial-expressions_2868588k.jpg") == "muxspace/facial-expressions_2868588k"
    legend = ("user.id,image,emotion\n1,Ann_Lee_0001.jpg,anger\n1,Ann_Lee_0002.jpg,NEUTRAL\n"
              "1,Bo_Ma_0001.jpg,neutral\n1,Cy_Do_0001.jpg,happiness\n1,Cy_Do_0002.jpg,happiness\n")
    picked = data.select_muxspace(legend, cap_per_class=1)
    by_label = {e.label: e for e in picked}
    assert by_label["neutral"].person == "muxspace/Ann_Lee"   # a selected person's neutral first
    assert len([e for e in picked if e.label == "happy"]) == 1


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_manifest_rebuilds_from_the_pinned_commit_and_checks_hashes(tmp_path: Path, media_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "data").mkdir()
    for name in ("Ann_Lee_0001.jpg", "Ann_Lee_0002.jpg"):
        (src / "images" / name).write_bytes((media_dir / "images" / "face_api_js" / "happy.jpg").read_bytes()
                                            + name.encode())
    (src / "data" / "legend.csv").write_text("u,image,emotion\n1,Ann_Lee_0001.jpg,happiness\n"
                                             "1,Ann_Lee_0002.jpg,neutral\n")
    _git("init", "-q", cwd=src)
    _git("add", "-A", cwd=src)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x", cwd=src)
    commit = _git("rev-parse", "HEAD", cwd=src)
    manifest = tmp_path / "m.json"
    doc = data.build_manifest(src, commit, 10, tmp_path / "built", manifest)
    assert [f["person"] for f in doc["files"]] == ["muxspace/Ann_Lee"] * 2
    out = tmp_path / "rebuilt"
    assert data.rebuild(manifest, src, out) == 2
    assert data.rebuild(manifest, src, out) == 0            # already right: kept
    items = data.manifest_items(manifest, out)
    assert {i.label for i in items} == {"happy", "neutral"} and all(i.fit_ok for i in items)
    bad = json.loads(manifest.read_text())
    bad["files"][0]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(bad))
    (out / doc["name"] / doc["files"][0]["path"]).unlink()
    with pytest.raises(CuewatchError, match="SHA-256 differs"):
        data.rebuild(manifest, src, out)
    with pytest.raises(CuewatchError, match="missing"):
        data.manifest_items(manifest, tmp_path / "nowhere")


def test_landmarks_are_cached_by_content_and_model(tmp_path: Path, media_dir: Path, model_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes((media_dir / "images" / "face_api_js" / "happy.jpg").read_bytes())
    item = LabelledItem("a", photo, "image", "happy", "p", "s", "l", False)
    cache = tmp_path / "cache"
    first = cached_faces([item], model_path, cache_dir=cache)[photo]
    assert first is not None and len(first) == 1
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 1
    moved = tmp_path / "b.jpg"
    photo.rename(moved)                                   # same content: the cache is found
    again = cached_faces([LabelledItem("a", moved, "image", "happy", "p", "s", "l", False)],
                         model_path, cache_dir=cache)[moved]
    assert sorted(cache.glob("*.npz")) == files
    np.testing.assert_array_equal(again.landmarks, first.landmarks)


def test_people_are_never_split_and_the_held_out_set_is_stable() -> None:
    people = [f"p{i}" for i in range(200)]
    held = [p for p in people if by_person.held_out(p)]
    assert 20 < len(held) < 70 and held == [p for p in people if by_person.held_out(p)]
    assert all(by_person.fold_of(p) == by_person.fold_of(p) for p in people)


def test_committed_weights_match_their_hash_and_refuse_tampering(tmp_path: Path) -> None:
    model = fitted.load_model()
    assert set(model.readings) == set(fitted.READINGS) and len(model.sha256) == 64
    assert model.info["manifests"] == data.manifest_digests()
    doc = json.loads(fitted.WEIGHTS_PATH.read_text())
    doc["readings"]["absolute"]["categories"]["intercept"][0] += 0.5
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(CuewatchError, match="do not match"):
        fitted.load_model(bad)
    x = np.random.default_rng(0).normal(size=(5, len(fitted.feature_names("absolute"))))
    p, v = model.predict("absolute", x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(np.abs(v) <= 1.0)


def test_both_readings_read_the_face_and_the_face_centred_on_the_persons_own() -> None:
    """Without a neutral, the person's usual face (the track's median) stands in for it: a
    face that is always lower-browed or wider-mouthed than most is not read as a frown or a
    smile in the centred inputs, and the face as it is stays beside them. With a marked
    neutral the relative reading reads the same centred face after its own inputs."""
    rng = np.random.default_rng(1)
    n = len(fitted.FACE_NAMES)
    geometry = rng.normal(size=(9, 17))
    blend = rng.uniform(0.0, 0.6, size=(9, 52)).astype(np.float32)
    x = fitted.features("absolute", geometry, blend, np.zeros((9, 0)), None)  # type: ignore[arg-type]
    assert x.shape == (9, 2 * n) and len(fitted.feature_names("absolute")) == 2 * n
    assert fitted.feature_names("absolute")[n] == "c" + fitted.FACE_NAMES[0]
    np.testing.assert_allclose(x[:, n:], x[:, :n] - np.median(x[:, :n], axis=0))
    # another person's face, the same expressions on it: the same centred inputs
    shifted = fitted.features("absolute", geometry + 0.7, blend, np.zeros((9, 0)), None)  # type: ignore[arg-type]
    np.testing.assert_allclose(shifted[:, n:], x[:, n:], atol=1e-12)
    assert not np.allclose(shifted[:, :17], x[:, :17])
    # a part of the track read against the whole track's centre; a lone frame is its own
    centre = fitted.face_centre(geometry, blend)
    part = fitted.features("absolute", geometry[:2], blend[:2], np.zeros((2, 0)), None, centre)  # type: ignore[arg-type]
    np.testing.assert_allclose(part, x[:2])
    one = fitted.features("absolute", geometry[:1], blend[:1], np.zeros((1, 0)), None)  # type: ignore[arg-type]
    assert np.all(one[:, n:] == 0.0)
    # the relative reading: AUs, the change from the marked neutral, the face, the centred face
    au = rng.uniform(0.0, 5.0, size=(9, len(AU_NAMES)))
    marked = dataclasses.replace(NO_NEUTRAL, geometry=geometry[4].copy(), blendshapes=blend[4].copy(),
                                 method="span")
    rel = fitted.features("relative", geometry, blend, au, marked)
    names = fitted.feature_names("relative")
    assert rel.shape == (9, len(names)) and names[-2 * n:] == fitted.FACE_NAMES + fitted.CENTRED_NAMES
    np.testing.assert_allclose(rel[:, -2 * n:], x)
    np.testing.assert_allclose(rel[:, :len(AU_NAMES)], au / 5.0)
    np.testing.assert_allclose(rel[4, len(AU_NAMES):len(AU_NAMES) + n], 0.0, atol=1e-6)  # the neutral itself
    np.testing.assert_allclose(fitted.features("relative", geometry[:2], blend[:2], au[:2], marked, centre), rel[:2])
    # the marked neutral moves the change from it, never the centred face
    other = dataclasses.replace(marked, geometry=geometry[0].copy(), blendshapes=blend[0].copy())
    np.testing.assert_allclose(fitted.features("relative", geometry, blend, au, other)[:, -n:], rel[:, -n:])
    with pytest.raises(CuewatchError, match="unknown reading"):
        fitted.features("oracle", geometry, blend, au, marked)
    # frames without a value are left out of the centre; a column no frame has is 0
    geometry[0, 3] = np.nan
    geometry[:, 5] = np.nan
    c = fitted.face_centre(geometry, blend)
    assert c[3] == np.median(geometry[1:, 3]) and c[5] == 0.0 and np.all(np.isfinite(c))


def test_an_unknown_reading_is_refused() -> None:
    with pytest.raises(CuewatchError, match="unknown expression reading"):
        ExpressionSettings(reading="oracle")


@pytest.mark.tuned
def test_the_fitted_reading_sees_an_expressive_clip_without_a_neutral(media_dir: Path, model_path: Path) -> None:
    """With no neutral to compare against, the hand-set reading of a clip that smiles
    throughout takes the smile as the neutral; the person-independent reading does not."""
    face = landmark_video(media_dir / "crema_d" / "1001_DFA_HAP_XX.flv", model_path)
    fit = face.expression(settings=ExpressionSettings(reading="fitted")).summary()
    assert fit["category"] == "happy" and fit["valence"] > NEUTRAL_BAND
    hand = face.expression(settings=ExpressionSettings()).summary()
    assert fit["scores"]["happy"] > hand["scores"]["happy"]


def test_fer_answers_map_to_categories_and_no_face_reads_as_neutral() -> None:
    from cuewatch.evaluation.peers import fer_proba, peer_predictions

    p = fer_proba({"frames": 3, "scores": {"happy": 0.6, "sad": 0.2, "neutral": 0.2, "angry": 0.0,
                                           "disgust": 0.0, "fear": 0.0, "surprise": 0.0}})
    assert p[EXPRESSION_CATEGORIES.index("happy")] == pytest.approx(0.6)
    assert fer_proba({"frames": 0, "scores": {}}) is None
    items = [LabelledItem(n, Path(f"{n}.jpg"), "image", "happy", n, "s", "l", False) for n in ("a", "b")]
    proba, valence = peer_predictions(items, {"a": p, "b": None})
    assert EXPRESSION_CATEGORIES[int(proba[1].argmax())] == "neutral" and valence[1] == 0.0
    assert valence[0] == pytest.approx(0.6 - 0.2)


def test_the_valence_sign_is_fitted_unweighted_and_the_categories_balanced() -> None:
    """Balancing the sign's classes cost valence accuracy on dev CV (issue 12): the sign
    model weighs every item alike, the categories by inverse frequency, negatives more."""
    from cuewatch.evaluation import fit

    signs = np.array([0] * 2 + [1] * 6 + [2] * 2)
    assert not fit.BALANCE_SIGN_CLASSES
    assert fit._class_weight(signs, fitted.VALENCE_CLASSES) == {0: 1.0, 1: 1.0, 2: 1.0}
    cats = fit._class_weight(np.array([0] * 6 + [1] * 2), ("happy", "sad"))
    assert cats[1] / cats[0] == pytest.approx(3 * fit.NEGATIVE_WEIGHT)
    labels = ["happy"] * 6 + ["neutral"] * 2 + ["sad"] * 2
    assert fit.sign_labels(labels).count("positive") == 6


def test_cross_validation_chooses_c_and_a_temperature_on_the_fit_people_only() -> None:
    """C and the temperature come from folds that never split a person; the temperature
    scales the logits (a model sure of noisy labels is made less sure)."""
    from cuewatch.evaluation import fit

    rng = np.random.default_rng(1)
    n_feat = len(fitted.feature_names("absolute"))
    people = [f"p{i // 4}" for i in range(240)]
    labels = ["happy" if i % 2 else "sad" for i in range(240)]
    x = rng.normal(size=(240, n_feat))
    x[:, 0] += np.where(np.array(labels) == "happy", 1.0, -1.0)
    flip = rng.random(240) < 0.25          # a quarter of the labels are wrong
    labels = [("sad" if lab == "happy" else "happy") if f else lab for lab, f in zip(labels, flip)]
    c, t, scores = fit.choose(x, labels, people, "absolute")
    assert c in fit.C_GRID and set(scores) == set(fit.C_GRID)
    assert t in fit.TEMPERATURES and t != 1.0
    model = fit.fit_reading(x, labels, "absolute", people)
    assert model.readings["absolute"].temperature == model.info["temperature"] == t
    plain = fit.fit_logistic(x, labels, "absolute", c)
    sure = plain.class_proba(x).max(axis=1).mean()
    calibrated = model.readings["absolute"].class_proba(x).max(axis=1).mean()
    assert (calibrated < sure) == (t > 1.0)
    assert len({fit.person_fold(p) for p in people}) == fit.CV_FOLDS


def test_neutral_sequences_are_a_quarter_neutral_and_say_what_was_found(media_dir: Path,
                                                                        model_path: Path,
                                                                        tmp_path: Path,
                                                                        monkeypatch) -> None:
    """One person's clips as one shuffled track, about a quarter neutral; the automatic
    neutral's source and purity and every reading's answer per item."""
    from cuewatch.evaluation import neutral_sequences as ns

    monkeypatch.setenv("CUEWATCH_EVAL_CACHE", str(tmp_path / "cache"))
    items = [i for i in shared_media_items(media_dir) if i.source == "crema_d"]
    faces = cached_faces(items, model_path, 15.0)
    seqs = ns.build_sequences(items, faces)
    assert len(seqs) == 1
    seq = seqs[0]
    labels = [it.label for it in seq.items]
    assert labels.count("neutral") == 1 and len(labels) - 1 >= ns.MIN_EXPRESSIVE
    assert seq.items != sorted(seq.items, key=lambda i: i.item_id)  # shuffled
    assert [it.item_id for it in ns.build_sequences(items, faces)[0].items] == [it.item_id for it in seq.items]
    res = ns.read_sequence(seq, model=fitted.load_model())
    assert 0.1 < res.neutral_share < 0.4
    assert set(res.valence) == set(ns.READINGS)
    assert all(v.shape == (len(labels),) for v in res.valence.values())
    if res.source.startswith("none"):
        assert res.purity != res.purity
    else:
        assert 0.0 <= res.purity <= 1.0
    text = "\n".join(ns.summarise([res], "test"))
    assert "valence sign" in text and "purity" in text


def test_sequences_without_a_neutral_measure_the_false_rest(media_dir: Path, model_path: Path,
                                                           tmp_path: Path, monkeypatch) -> None:
    """``share`` 0: a person's expressive items alone (no neutral item, so no marked
    reading); a rest found there is a false rest, and the summary says how many."""
    from cuewatch.evaluation import neutral_sequences as ns
    from cuewatch.expression.action_units import SOURCE_NONE, AUSettings

    monkeypatch.setenv("CUEWATCH_EVAL_CACHE", str(tmp_path / "cache"))
    items = [i for i in shared_media_items(media_dir) if i.source == "crema_d"]
    faces = cached_faces(items, model_path, 15.0)
    seqs = ns.build_sequences(items, faces, 0.0)
    assert len(seqs) == 1 and "neutral" not in [it.label for it in seqs[0].items]
    assert len(seqs[0].items) >= ns.MIN_EXPRESSIVE + 1 and not seqs[0].neutral_rows.any()
    regions = ns.read_sequence(seqs[0], model=fitted.load_model())
    screened = ns.read_sequence(seqs[0], ExpressionSettings(au=AUSettings(rest_search="screened")),
                                model=fitted.load_model())
    for res in (regions, screened):
        assert res.neutral_share == 0.0 and set(res.valence) == {"automatic", "fitted"}
    assert regions.source != SOURCE_NONE     # today's search takes a rest from his expressions
    text = "\n".join(ns.summarise([regions], "test"))
    assert "no neutral" in text and "false rest (a rest found where there is none) for 1 of 1" in text
    # leave-fold-out weights: one person (actor 1001, fold 3) fits every other fold's model
    folds = ns.fold_models(items, faces)
    assert sorted(folds) == [k for k in range(by_person.FOLDS) if k != by_person.fold_of("crema_d/1001")]
    x = np.zeros((2, len(fitted.feature_names("absolute"))))
    p, _v = folds[min(folds)].predict("absolute", x)
    assert np.allclose(p.sum(axis=1), 1.0)


def test_the_people_selection_takes_lfw_people_with_a_neutral_and_leaves_the_first_out() -> None:
    legend = ("user.id,image,emotion\n"
              "a,Ann_Lee_0001.jpg,neutral\na,Ann_Lee_0002.jpg,happiness\na,Ann_Lee_0003.jpg,happiness\n"
              "a,Ann_Lee_0004.jpg,anger\na,Ann_Lee_0005.jpg,happiness\n"
              "a,Bo_Kim_0001.jpg,happiness\na,Bo_Kim_0002.jpg,anger\na,Bo_Kim_0003.jpg,sadness\n"
              "a,Bo_Kim_0004.jpg,happiness\n"
              "a,Cy_Ng_0001.jpg,neutral\na,Cy_Ng_0002.jpg,happiness\n"
              "a,facial-expressions_1.jpg,neutral\n")
    chosen = data.select_muxspace_people(legend, {"images/Ann_Lee_0004.jpg"}, cap_per_class=2)
    assert {e.person for e in chosen} == {"muxspace/Ann_Lee"}   # Bo: no neutral; Cy: too few
    assert [e.path for e in chosen] == ["images/Ann_Lee_0002.jpg", "images/Ann_Lee_0003.jpg",
                                        "images/Ann_Lee_0001.jpg"]
    assert [e.label for e in chosen] == ["happy", "happy", "neutral"]
