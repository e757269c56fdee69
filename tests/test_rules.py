"""Every result traceable: provenance and cache keys move with the rules that made them."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from cuewatch import formats, rules
from cuewatch.attunement.synchrony import SynchronySettings
from cuewatch.domain import MoodSegment
from cuewatch.expression import cache as expression_cache
from cuewatch.expression import series as expression_series
from cuewatch.expression.action_units import AUSettings
from cuewatch.expression.series import ExpressionSettings, estimate_expression
from cuewatch.features.keys import features_key
from cuewatch.flags import incongruence
from cuewatch.flags.incongruence import flags_for_series, thresholds
from cuewatch.formats import BLENDSHAPE_NAMES
from cuewatch.options import AnalysisSettings, FlagSettings
from cuewatch.provenance import PROVENANCE_KEYS, check_provenance, provenance
from cuewatch.rules import rules_hash
from cuewatch.words import response

#: (face-pass revision, expression revision, rules hash) -> SHA-256 of the golden output.
#: A change that alters the output must bump a revision (or change a rule number) and add
#: its pin here: the same key with another output means a forgotten revision bump.
GOLDEN: dict[tuple[int, int, str], str] = {
    (4, 7, "567c0694dcbd4bed"): "01077727eac330629412d099a42bcef9009975763862e5de115e5dfee96fe90f",
    # the presets became operating points (cuewatch/flags/operating_points.json)
    (4, 7, "6906f3ef292f0068"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 12.3: the automatic neutral says where it finds none (same output here)
    (4, 8, "6809e5478a3fc39a"): "01077727eac330629412d099a42bcef9009975763862e5de115e5dfee96fe90f",
    # issue 12.1-3 merged: the neutral found or none, the fitted reading behind a setting,
    # operating points re-derived under that reading (expression revision 9)
    (4, 9, "e9fa731824aa8ec8"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 13.1: the response window and synchrony settings enter the rules (same output)
    (4, 9, "4b1e4d62bc6b934e"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 12.2: every hand-set number moved unchanged into cuewatch/rules.toml (same output)
    (4, 9, "7ad92b94cd85080b"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 12 (h12fit): the fitted weights refitted and the whole-face rest switch (off) in
    # rules.toml; the default reading's output is the same
    (4, 9, "2fb4aaed5cd4f492"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 14: litert the default engine (face pass revision 5: its smoothing restarts on a
    # new crop size), operating points re-derived under it (high moved; same output here)
    (5, 9, "d46e04db311574eb"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 12.3 (h12neut): [neutral] rest_whole_face became rest_search (default "regions",
    # today's search) with rest_min_neutral for the "screened" and "fitted" searches (off);
    # the default reading's output is the same
    (4, 9, "c8728974f9f93495"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # merged: litert the default (revision 5) with rest_search (same output)
    (5, 9, "cba67fb82314239d"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 12 (h12feat): the fitted weights refitted (valence sign classes unweighted); the
    # default reading's output is the same
    (4, 9, "025f9c908b2329e5"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # merged: litert default, rest_search, refitted weights; operating points derived again
    # (same presets; same output)
    (5, 9, "b5eea668c2c0f537"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    (6, 9, "7b29dd0da5552002"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 12 (h12p): the absolute fitted reading also reads the face centred on the
    # person's own, weights refitted; operating points derived again (same presets; same output)
    (5, 9, "39b07ab9943e63b9"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    (6, 9, "f0bcd4c5c980b11f"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
    # issue 12 (h12q): the relative fitted reading (neutral known) also reads the centred
    # face, weights refitted; operating points derived again (same presets; same output)
    (6, 9, "4506b1a63161947d"): "4e51c447a4a2e25c46563eded6a00630fe02765ea264b39e16b1df22e97cadc7",
}

PARAMS = {"analysis": AnalysisSettings().to_dict(), "flags": FlagSettings().to_dict(),
          "neutral_span": None}


def _rules_of(prov: dict) -> dict:
    return {k: v for k, v in prov.items() if k != "created"}


def test_provenance_names_both_revisions_the_rules_hash_and_the_neutral_span() -> None:
    prov = check_provenance(provenance("ab" * 32, dict(PARAMS, neutral_span=[1.0, 3.5])))
    assert "rules" in PROVENANCE_KEYS
    assert prov["rules"] == {"face_pass_revision": formats.FACE_PASS_REVISION,
                             "expression_revision": expression_series.EXPRESSION_REVISION,
                             "rules_hash": rules_hash(), "neutral_span": [1.0, 3.5]}
    assert provenance("ab" * 32, PARAMS)["rules"]["neutral_span"] is None


@dataclasses.dataclass(frozen=True)
class _TunedExpression(ExpressionSettings):
    valence_gain: float = 1.6


@dataclasses.dataclass(frozen=True)
class _TunedSynchrony(SynchronySettings):
    window_s: float = 8.0


@pytest.mark.parametrize("change", ["response_window", "response_turns", "synchrony_number"])
def test_attunement_settings_move_the_rules_hash_not_the_reading(monkeypatch, change) -> None:
    """The response window and the synchrony settings are rules (provenance tells results
    made under others apart) but not the reading of the face the operating points were
    chosen under."""
    reading, before = rules.reading_hash(), _rules_of(provenance("ab" * 32, PARAMS))
    if change == "response_window":
        monkeypatch.setattr(response, "RESPONSE_WINDOW_S", response.RESPONSE_WINDOW_S + 1)
    elif change == "response_turns":
        monkeypatch.setattr(response, "RESPONSE_MAX_TURNS", response.RESPONSE_MAX_TURNS + 1)
    else:
        monkeypatch.setattr(rules, "SynchronySettings", _TunedSynchrony)
    after = _rules_of(provenance("ab" * 32, PARAMS))
    assert after["rules"]["rules_hash"] != before["rules"]["rules_hash"]
    assert rules.reading_hash() == reading


@dataclasses.dataclass(frozen=True)
class _TunedAUs(ExpressionSettings):
    au: AUSettings = dataclasses.field(default_factory=lambda: AUSettings(noise_floor=0.11))


@dataclasses.dataclass(frozen=True)
class _TunedFlags(FlagSettings):
    sensitivity: str = "high"


@pytest.mark.parametrize("change", ["expression_revision", "face_pass_revision", "flag_default",
                                    "preset_number", "expression_number", "au_number"])
def test_provenance_differs_when_a_revision_or_a_rule_number_changes(monkeypatch, change) -> None:
    before = _rules_of(provenance("ab" * 32, PARAMS))
    if change == "expression_revision":
        monkeypatch.setattr(expression_series, "EXPRESSION_REVISION",
                            expression_series.EXPRESSION_REVISION - 4)
    elif change == "face_pass_revision":
        monkeypatch.setattr(formats, "FACE_PASS_REVISION", formats.FACE_PASS_REVISION + 1)
    elif change == "flag_default":
        monkeypatch.setattr(rules, "FlagSettings", _TunedFlags)
    elif change == "preset_number":
        medium = incongruence.PRESETS["medium"]
        monkeypatch.setitem(incongruence.PRESETS, "medium",
                            dataclasses.replace(medium, valence=medium.valence + 0.01))
    elif change == "expression_number":
        monkeypatch.setattr(expression_series, "ExpressionSettings", _TunedExpression)
    else:
        monkeypatch.setattr(expression_series, "ExpressionSettings", _TunedAUs)
    after = _rules_of(provenance("ab" * 32, PARAMS))
    assert after != before
    assert after["rules"]["rules_hash"] != before["rules"]["rules_hash"]


def test_cache_keys_carry_the_stage_revisions_and_the_neutral_span(monkeypatch) -> None:
    settings = AnalysisSettings()
    fkey = features_key("v" * 64, "m" * 64, settings)
    ekey = expression_cache._key(ExpressionSettings(), None)
    assert expression_cache._key(ExpressionSettings(), (1.0, 2.0)) != ekey
    assert expression_cache._key(_TunedAUs(), None) != ekey
    monkeypatch.setattr(expression_cache, "EXPRESSION_REVISION", 3)
    assert expression_cache._key(ExpressionSettings(), None) != ekey
    monkeypatch.undo()
    monkeypatch.setattr(expression_cache, "FACE_PASS_REVISION", formats.FACE_PASS_REVISION + 1)
    assert expression_cache._key(ExpressionSettings(), None) != ekey
    from cuewatch.features import keys
    monkeypatch.setattr(keys, "FACE_PASS_REVISION", formats.FACE_PASS_REVISION + 1)
    assert features_key("v" * 64, "m" * 64, settings) != fkey


def _golden_input() -> tuple[np.ndarray, ...]:
    """A synthetic face, 10 s at 15 fps: a smile at 2-5 s, a frown at 6-9 s (seeded noise)."""
    rng = np.random.default_rng(11)
    n, fps = 150, 15.0
    t = np.arange(n) / fps
    base = rng.uniform(0, 1, (478, 3)) * [200, 240, 40] + [220, 120, 0]
    landmarks = base[None] + rng.normal(0, 0.3, (n, 478, 3))
    blend = np.zeros((n, len(BLENDSHAPE_NAMES)), np.float32)
    col = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
    smile = np.clip(np.sin(np.pi * (t - 2) / 3), 0, 1) * ((t >= 2) & (t < 5))
    frown = np.clip(np.sin(np.pi * (t - 6) / 3), 0, 1) * ((t >= 6) & (t < 9))
    for side in ("Left", "Right"):
        blend[:, col["mouthSmile" + side]] = smile
        blend[:, col["cheekSquint" + side]] = 0.8 * smile
        blend[:, col["browDown" + side]] = 0.8 * frown
        blend[:, col["mouthFrown" + side]] = 0.6 * frown
    pose = np.zeros((n, 3))
    bbox = np.tile([200.0, 100.0, 440.0, 400.0], (n, 1))
    return t, landmarks, blend, pose, bbox, np.full(n, 0.95)


GOLDEN_SEGMENTS = [
    MoodSegment(start=2.0, end=5.0, speaker="Client", text="this is awful", valence=-0.7,
                category="sad", certainty=0.9),
    MoodSegment(start=6.0, end=9.0, speaker="Client", text="I'm great", valence=0.7,
                category="happy", certainty=0.9),
]


def golden_output() -> str:
    """SHA-256 of the expression series and flags of the golden input (rounded to 3 places
    so that the last bits of floating point do not matter)."""
    s = estimate_expression(*_golden_input())
    flags = []
    for sensitivity in ("low", "medium", "high"):
        th = thresholds(FlagSettings(sensitivity=sensitivity))
        flags.append([f.to_dict() for f in flags_for_series(s, GOLDEN_SEGMENTS, "Client", 0, th)])
    doc = {name: np.round(np.asarray(getattr(s, name), dtype=np.float64), 3).tolist()
           for name in ("au", "scores", "valence", "arousal", "confidence", "dominant")}
    doc["flags"] = flags
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def test_golden_output_is_pinned_to_the_rules() -> None:
    key = (formats.FACE_PASS_REVISION, expression_series.EXPRESSION_REVISION, rules_hash())
    out = golden_output()
    assert key in GOLDEN, (f"the rules changed ({key}): if that was meant, add "
                           f"{key!r}: {out!r} to GOLDEN in tests/test_rules.py")
    assert out == GOLDEN[key], ("the expression or flag output changed under the same rules: "
                                "bump EXPRESSION_REVISION (or FACE_PASS_REVISION) and "
                                f"__version__, then pin {out!r} under the new key")


def test_the_golden_input_raises_a_flag() -> None:
    """The golden test covers the flag rules, not only the expression stage."""
    s = estimate_expression(*_golden_input())
    flags = flags_for_series(s, GOLDEN_SEGMENTS, "Client", 0, thresholds(FlagSettings()))
    assert [f.type for f in flags] == ["incongruence"]


def test_unknown_sensitivity_is_an_error_not_medium() -> None:
    from cuewatch.errors import CuewatchError
    from cuewatch.options import SENSITIVITIES

    assert tuple(incongruence.PRESETS) == SENSITIVITIES  # one preset per offered name
    with pytest.raises(CuewatchError, match="unknown sensitivity 'extreme'"):
        FlagSettings(sensitivity="extreme")
    with pytest.raises(CuewatchError, match="unknown sensitivity"):
        thresholds(dataclasses.replace(FlagSettings(), sensitivity="Medium"))


def test_unknown_threshold_key_is_an_error_not_ignored() -> None:
    from cuewatch.errors import CuewatchError

    assert thresholds(FlagSettings(extra={"smile_margin": 0.2})).smile_margin == 0.2
    with pytest.raises(CuewatchError, match="unknown threshold 'smile_margn'") as err:
        thresholds(FlagSettings(extra={"smile_margn": 0.2}))
    assert "\n" not in str(err.value)


def test_an_old_projects_renamed_settings_fields_are_read_with_a_warning(tmp_path) -> None:
    import shutil
    import sqlite3
    from pathlib import Path

    from cuewatch.project.store import Project

    sample = Path(__file__).resolve().parents[1] / "sample_media"
    for name in ("demo_roleplay.mp4", "demo_roleplay.mp4.consent.json"):
        shutil.copy(sample / name, tmp_path / name)
    path = tmp_path / "old.cuewatch"
    project = Project.create(path, actor="supervisor")
    rid = project.recordings.add(tmp_path / "demo_roleplay.mp4").id
    project.close()
    old = {"analysis": dict(AnalysisSettings().to_dict(), search_every_s=2.0),
           "flags": dict(FlagSettings(sensitivity="high").to_dict(), min_length_s=0.8)}
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE analyses SET parameters = ?", (json.dumps(old),))
    conn.close()
    project = Project.open(path)
    try:
        from cuewatch.errors import StoredSettingsWarning

        with pytest.warns(StoredSettingsWarning) as caught:
            analysis = project.analyses.all(rid)[-1]
        assert analysis.flag_settings.sensitivity == "high"
        assert analysis.settings == AnalysisSettings()
        text = " ".join(str(w.message) for w in caught)
        assert "min_length_s" in text and "search_every_s" in text
    finally:
        project.close()
