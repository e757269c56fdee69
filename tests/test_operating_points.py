"""The sensitivity presets are operating points derived from role-play cases, in one file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from cuewatch import rules
from cuewatch.errors import CuewatchError
from cuewatch.evaluation import operating_points as op
from cuewatch.expression import series as expression_series
from cuewatch.flags import incongruence
from cuewatch.flags.incongruence import (
    OPERATING_POINTS_PATH,
    PRESETS,
    Thresholds,
    load_operating_points,
    presets_from,
    thresholds,
)
from cuewatch.options import SENSITIVITIES, FlagSettings

MEDIUM = PRESETS["medium"]


def test_the_presets_are_the_committed_operating_points() -> None:
    doc = load_operating_points()
    assert OPERATING_POINTS_PATH.parent == Path(incongruence.__file__).parent
    assert tuple(doc["points"]) == SENSITIVITIES
    for name in SENSITIVITIES:
        assert thresholds(FlagSettings(sensitivity=name)) == Thresholds(**doc["points"][name])
    assert presets_from(doc) == PRESETS


def test_the_operating_points_were_derived_under_todays_reading() -> None:
    """When the expression reading changes (a revision, a rule number, the model), the
    points were chosen for another reading: derive them again."""
    derived = load_operating_points()["derived"]
    assert derived["reading_hash"] == rules.reading_hash(), (
        "the reading of the face changed since the operating points were derived: run "
        "python benchmarks/build_cases.py --out DIR and python benchmarks/eval_operating_points.py "
        "--cases DIR --write, then re-pin tests/test_rules.py GOLDEN")
    assert derived["command"].startswith("python benchmarks/eval_operating_points.py")
    assert derived["date"] and derived["selection_cases"] and derived["held_out_cases"]
    # the held-out figures are for people no selection case shows
    assert not set(derived["selection_people"]) & set(derived["held_out_people"])
    assert set(derived["targets_fa_per_min"]) == set(SENSITIVITIES)


def test_the_reading_hash_moves_with_the_reading_not_with_the_presets(monkeypatch) -> None:
    reading, all_rules = rules.reading_hash(), rules.rules_hash()
    monkeypatch.setitem(incongruence.PRESETS, "medium",
                        dataclasses.replace(MEDIUM, valence=MEDIUM.valence + 0.01))
    assert rules.reading_hash() == reading and rules.rules_hash() != all_rules
    monkeypatch.undo()
    monkeypatch.setattr(expression_series, "EXPRESSION_REVISION",
                        expression_series.EXPRESSION_REVISION + 1)
    assert rules.reading_hash() != reading


@pytest.mark.parametrize("damage", ["not json", "format", "missing threshold", "missing point"])
def test_a_damaged_operating_points_file_is_one_clear_error(tmp_path, damage) -> None:
    doc = json.loads(OPERATING_POINTS_PATH.read_text())
    path = tmp_path / "operating_points.json"
    if damage == "not json":
        path.write_text("{")
    else:
        if damage == "format":
            doc["format"] = "something-else"
        elif damage == "missing point":
            del doc["points"]["high"]
        else:
            del doc["points"]["low"]["valence"]
        path.write_text(json.dumps(doc))
    with pytest.raises(CuewatchError) as err:
        load_operating_points(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


# ------------------------------------------------- choosing from scored counts

def _counts(*cases: tuple[int, int, int, int, int, float]) -> np.ndarray:
    """One setting's per-case counts (events, found, flags, matched, false_alarms, minutes)."""
    return np.array(cases, dtype=float)


A = dataclasses.replace(MEDIUM, valence=0.08)   # finds everything, with false alarms
B = dataclasses.replace(MEDIUM, valence=0.40)   # finds little, no false alarms
SETTINGS = [A, MEDIUM, B]


def test_the_choice_is_the_best_recall_within_the_false_alarm_target() -> None:
    counts = np.stack([_counts((4, 4, 8, 4, 4, 1.0), (2, 2, 2, 2, 0, 1.0)),    # A: 2 FA/min
                       _counts((4, 3, 3, 3, 0, 1.0), (2, 2, 2, 2, 0, 1.0)),    # medium: 0
                       _counts((4, 1, 1, 1, 0, 1.0), (2, 1, 1, 1, 0, 1.0))])   # B: 0
    assert SETTINGS[op.choose(counts, SETTINGS, 0.3, MEDIUM)] == MEDIUM
    assert SETTINGS[op.choose(counts, SETTINGS, 2.0, MEDIUM)] == A
    # equal scores: the setting nearest today's wins, so numbers move only on evidence
    tied = np.stack([counts[1], counts[1], counts[1]])
    assert SETTINGS[op.choose(tied, SETTINGS, 0.3, B)] == B


def test_cross_validation_never_scores_a_case_with_a_choice_made_on_it() -> None:
    """Case 0 alone makes A look perfect; left out, the other cases choose B, which
    scores case 0 as it really does."""
    counts = np.stack([_counts((2, 2, 2, 2, 0, 1.0), (2, 2, 9, 2, 7, 1.0), (2, 2, 9, 2, 7, 1.0)),
                       _counts((2, 0, 0, 0, 0, 1.0), (2, 0, 0, 0, 0, 1.0), (2, 0, 0, 0, 0, 1.0)),
                       _counts((2, 0, 0, 0, 0, 1.0), (2, 1, 1, 1, 0, 1.0), (2, 1, 1, 1, 0, 1.0))])
    cv = op.cross_validate(counts, SETTINGS, 0.3, MEDIUM)
    assert cv["folds"] == 3
    assert cv["estimate"]["found"] == 2 and cv["estimate"]["false_alarms"] == 0
    assert cv["fold_recall"]["min"] == 0.0 and cv["fold_recall"]["max"] == 0.5


def test_a_choice_worse_on_the_held_out_cases_keeps_todays_preset() -> None:
    today = {"low": B, "medium": MEDIUM, "high": A}
    sel = np.stack([_counts((4, 4, 4, 4, 0, 1.0)),      # A: best on the selection
                    _counts((4, 3, 3, 3, 0, 1.0)),
                    _counts((4, 1, 1, 1, 0, 1.0))])
    ho = np.stack([_counts((4, 4, 9, 4, 5, 1.0)),       # A: 5 FA/min on new people
                   _counts((4, 3, 3, 3, 0, 1.0)),
                   _counts((4, 1, 1, 1, 0, 1.0))])
    points, report = op.decide(sel, ho, SETTINGS, today, {"medium": 0.3})
    assert points["medium"] == MEDIUM and report["medium"]["source"].startswith("today's")
    points, report = op.decide(sel, sel, SETTINGS, today, {"medium": 0.3})
    assert points["medium"] == A and report["medium"]["source"] == "cross-validated choice"


def test_the_pareto_front_keeps_only_unbeaten_settings() -> None:
    s = [op.Score(4, 4, 6, 4, 2, 1.0), op.Score(4, 3, 3, 3, 0, 1.0), op.Score(4, 2, 2, 2, 0, 1.0),
         op.Score(4, 3, 5, 3, 2, 1.0)]
    assert op.pareto_front(s) == [1, 0]


def test_people_split_the_cases_so_held_out_people_are_never_selected_on(tmp_path) -> None:
    def case(name: str) -> op.RolePlayCase:
        return op.RolePlayCase(name, tmp_path / f"{name}.mp4", tmp_path / f"{name}.vtt",
                               tmp_path / f"{name}.truth.json", op.person_of(name))

    dev = [case("crema_single"), case("pexels_distress_to_joy")]
    built = [case("ho_crema_single"), case("ho_ravdess_single"), case("ho_pyfame_wide_left"),
             case("ho_pexels_single")]
    selection, held_out = op.split_by_person(dev, built)
    assert [c.name for c in held_out] == ["ho_ravdess_single", "ho_pyfame_wide_left"]
    assert not set(op.people(selection)) & set(op.people(held_out))


# ------------------------------------------------- on real role-plays

def test_the_sweep_scores_a_setting_as_the_scorer_scores_cuewatch_analyze(eval_dir, model_path,
                                                                        feature_cache, tmp_path
                                                                        ) -> None:
    """The sweep cuts flags from the cached expression the way ``run_pipeline`` does: at
    today's medium it gets the scorer's counts for the flags analyze writes."""
    from cuewatch.faces.model import MODEL_SHA256
    from cuewatch.options import AnalysisSettings
    from cuewatch.recording.analyse import run_pipeline

    scorer = op.load_scorer(eval_dir / "score_flags.py")
    cases = [c for c in op.role_play_cases(eval_dir) if c.name in ("crema_single", "crema_wide")]
    assert len(cases) == 2 and cases[0].person == "CREMA-D 1001"
    prepared = op.prepare_cases(cases, model_path, MODEL_SHA256, cache_dir=feature_cache)
    counts = op.flag_counts(prepared, [MEDIUM, dataclasses.replace(MEDIUM, valence=0.9)], scorer)
    for j, case in enumerate(cases):
        result = run_pipeline(case.video, settings=AnalysisSettings(), model_path=model_path,
                              model_sha256=MODEL_SHA256, transcript=case.transcript,
                              cache_dir=feature_cache)
        flags = tmp_path / f"{case.name}.flags.json"
        flags.write_text(json.dumps({"flags": [f.to_dict() for f in result.flags]}))
        expected = scorer.score(str(case.truth), str(flags))
        assert counts[0, j].tolist() == [expected[k] for k in op.COUNTS]
    assert op.Score.of(counts[0]).found > 0
    # the grid moves flags: a far stricter valence finds fewer events (it may raise more,
    # shorter flags: under litert 7 runs where medium flags 6 utterances)
    assert op.Score.of(counts[1]).found < op.Score.of(counts[0]).found
