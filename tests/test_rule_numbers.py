"""The hand-set rule numbers live in one declarative file, all of them used, all hashed."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cuewatch import rule_numbers, rules
from cuewatch.errors import CuewatchError
from cuewatch.expression import cache as expression_cache
from cuewatch.expression.series import ExpressionSettings

ROOT = Path(__file__).resolve().parents[1]
tomllib = rule_numbers.tomllib  # the standard library's, or its backport on Python 3.10
TEXT = rule_numbers.RULES_PATH.read_text()


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every number (and switch) in the parsed file, as a key path (list items by index)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, path + (k,))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, path + (i,))]
    return [path] if isinstance(node, (int, float)) else []   # bool is an int: switches too


def _perturbed(doc: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out
    for k in path[:-1]:
        node = node[k]
    value = node[path[-1]]
    if isinstance(value, bool):   # a switch: flip it
        node[path[-1]] = not value
    elif path[:2] == ("action_units", "cues") and path[-1] == 2:   # a cue's sign: flip it
        node[path[-1]] = -value
    else:
        node[path[-1]] = value + 1 if isinstance(value, int) else value * 1.5 + 0.01
    return out


DOC = tomllib.loads(TEXT)
LEAVES = _leaves(DOC)


def test_the_rules_file_is_package_data_and_holds_the_numbers() -> None:
    assert rule_numbers.RULES_PATH == ROOT / "cuewatch" / "rules.toml"
    assert '"cuewatch" = ["rules.toml"]' in (ROOT / "pyproject.toml").read_text()
    assert len(LEAVES) >= 300  # the cues, prototypes, valence, confidence, flags, words...
    assert rule_numbers.load_rules() == rule_numbers.RULES


def test_every_number_in_the_file_moves_the_rules_hash(monkeypatch) -> None:
    """Perturb each number in turn: the rules hash (provenance) must change every time, so
    no number is read and dropped on the way."""
    before = rules.rules_hash()
    seen = {before}
    for path in LEAVES:
        changed = rule_numbers.rules_from_data(_perturbed(DOC, path))
        monkeypatch.setattr(rule_numbers, "RULES", changed)
        after = rules.rules_hash()
        assert after not in seen, f"perturbing {'.'.join(map(str, path))} left the rules hash as it was"
        seen.add(after)
    monkeypatch.undo()
    assert rules.rules_hash() == before


def test_every_rule_field_is_read_by_the_code() -> None:
    """Every field of every section is read somewhere in cuewatch (``_R.section.field``, or
    through a local alias of its section), so the file holds no dead numbers."""
    import dataclasses

    reads: set[tuple[str, str]] = set()   # (section, field) the code reads
    for path in (ROOT / "cuewatch").rglob("*.py"):
        text = path.read_text()
        if path.name == "rule_numbers.py" or "_R" not in text:
            continue
        reads.update(re.findall(r"_R\.(\w+)\.(\w+)", text))
        for alias, section in re.findall(r"\b(\w+) = _R\.(\w+)\n", text):
            reads.update((section, f) for f in re.findall(rf"\b{alias}\.(\w+)", text))
        for f in re.findall(r"\bp\.(match|contradictions)\b", text):  # per prototype
            reads.add(("prototypes", f))
    for section in dataclasses.fields(rule_numbers.RuleNumbers):
        value = getattr(rule_numbers.RULES, section.name)
        cls = type(next(iter(value.values()))) if isinstance(value, dict) else type(value)
        for f in dataclasses.fields(cls):
            assert (section.name, f.name) in reads, (
                f"[{section.name}] {f.name} is in the rules file but no code reads it")


def _run_with(path: Path) -> dict[str, Any]:
    """Golden expression and flags output, a stated mood and the defaults, computed in a
    fresh interpreter that runs on the rules file at ``path``."""
    code = (
        "import json, sys\n"
        "from cuewatch import rule_numbers as rn\n"
        "rn.RULES = rn.load_rules(sys.argv[1])\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "import test_rules\n"
        "from cuewatch.words.stated_mood import assess\n"
        "from cuewatch.words import response\n"
        "from cuewatch.attunement.synchrony import SynchronySettings\n"
        "from cuewatch.rules import rules_hash\n"
        "print(json.dumps({'golden': test_rules.golden_output(),\n"
        "                  'mood': assess(\"I'm really happy, but a bit tired\"),\n"
        "                  'window': response.RESPONSE_WINDOW_S,\n"
        "                  'synchrony': SynchronySettings().to_dict(), 'hash': rules_hash()}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


#: (a line of the rules file, what it becomes, which computed result must move)
SAMPLE = [
    ("noise_floor = 0.1 ", "noise_floor = 0.3 ", "golden"),                  # action units
    ("AU12 = 0.65  # lip corner pull", "AU12 = 0.3  # lip corner pull", "golden"),  # prototypes
    ("gain = 1.5 ", "gain = 1.2 ", "golden"),                                # valence
    ("good_detection = 0.7 ", "good_detection = 0.99 ", "golden"),           # confidence
    ("severity_gap_weight = 0.6 ", "severity_gap_weight = 0.5 ", "golden"),  # flags
    ("intensifier_factor = 1.3 ", "intensifier_factor = 1.1 ", "mood"),      # stated mood
    ("window_s = 10.0 ", "window_s = 12.0 ", "window"),                      # response
    ("min_valid = 0.75 ", "min_valid = 0.7 ", "synchrony"),                  # synchrony
]


def test_a_sample_of_the_numbers_changes_what_cuewatch_computes(tmp_path) -> None:
    """Real runs on edited copies of the file: the golden face and flags, a stated mood,
    the response window and the synchrony settings each move with their number."""
    base = _run_with(rule_numbers.RULES_PATH)
    assert base["hash"] == rules.rules_hash()
    for old, new, result in SAMPLE:
        assert TEXT.count(old) == 1, old
        path = tmp_path / "rules.toml"
        path.write_text(TEXT.replace(old, new))
        out = _run_with(path)
        assert out["hash"] != base["hash"], old
        assert out[result] != base[result], f"{old.strip()} -> {new.strip()} left the {result} unchanged"


def _error_for(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(CuewatchError) as err:
        rule_numbers.load_rules(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_missing_key_is_a_clear_error_naming_it(tmp_path) -> None:
    line = next(x for x in TEXT.splitlines() if x.startswith("severity_gap_weight"))
    message = _error_for(tmp_path, TEXT.replace(line + "\n", ""))
    assert "flags.severity_gap_weight: missing key" in message
    cut = TEXT.replace("[prototypes.sad.contradictions]\nAU12 = 0.6  # a smile\n"
                       "AU02 = 0.3  # outer brow raise\n", "")
    assert "prototypes.sad.contradictions: missing key" in _error_for(tmp_path, cut)


def test_an_unknown_key_a_wrong_type_or_a_dangling_name_is_a_clear_error(tmp_path) -> None:
    extra = TEXT.replace("[flags]\n", "[flags]\nseverity_gap_wieght = 0.6\n")
    assert "flags.severity_gap_wieght: unknown key" in _error_for(tmp_path, extra)
    wrong = TEXT.replace("noise_floor = 0.1 ", 'noise_floor = "low" ')
    assert "action_units.noise_floor: expected a number, got a string" in _error_for(tmp_path, wrong)
    count = TEXT.replace("min_frames = 10 ", "min_frames = 10.5 ")
    assert "neutral.min_frames: expected an integer" in _error_for(tmp_path, count)
    dangling = TEXT.replace("AU12 = 0.65  # lip corner pull", "AU13 = 0.65  # lip corner pull")
    assert "prototypes.happy.match.AU13: names nothing known" in _error_for(tmp_path, dangling)
    cue = TEXT.replace('["b", "mouthDimple", 1, 0.3, 0.7]', '["b", "mouthDimple", 1, 0.3]')
    assert "action_units.cues.AU14[0]: expected 5 items" in _error_for(tmp_path, cue)
    assert "not valid TOML" in _error_for(tmp_path, TEXT + "\n[flags\n")
    search = TEXT.replace('rest_search = "regions"', 'rest_search = "region"')
    assert "neutral.rest_search: must be one of regions, whole_face, fitted, screened, got 'region'" \
        in _error_for(tmp_path, search)


def test_the_expression_cache_key_carries_the_rule_numbers(monkeypatch) -> None:
    key = expression_cache._key(ExpressionSettings(), None)
    line = next(x for x in TEXT.splitlines() if x.startswith("geometry_dead"))
    changed = rule_numbers.rules_from_data(tomllib.loads(TEXT.replace(line, "geometry_dead = 0.03")))
    monkeypatch.setattr(rule_numbers, "RULES", changed)
    assert expression_cache._key(ExpressionSettings(), None) != key
    # a number only the attunement reads leaves the expression cache valid
    monkeypatch.setattr(rule_numbers, "RULES", rule_numbers.rules_from_data(
        tomllib.loads(TEXT.replace("min_valid = 0.75 ", "min_valid = 0.7 "))))
    assert expression_cache._key(ExpressionSettings(), None) == key
