"""Cohen's kappa against hand-computed values, degenerate cases, and on a real project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cuewatch.domain import Flag, Review
from cuewatch.flags.agreement import (
    TOOL,
    agreement_from_reviews,
    cohen_kappa,
    project_agreement,
    tool_verdicts,
)
from cuewatch.project.store import Project


def test_two_by_two_textbook_table() -> None:
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
    # po = 35/50 = 0.7; pe = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5 = 0.4
    a = ["agree"] * 25 + ["disagree"] * 25
    b = ["agree"] * 20 + ["disagree"] * 5 + ["agree"] * 10 + ["disagree"] * 15
    k = cohen_kappa(a, b)
    assert k.n == 50
    assert k.observed == pytest.approx(0.7)
    assert k.expected == pytest.approx(0.5)
    assert k.kappa == pytest.approx(0.4)


def test_three_labels_by_hand() -> None:
    a = ["agree", "agree", "disagree", "disagree", "agree", "unsure"]
    b = ["agree", "disagree", "disagree", "disagree", "agree", "agree"]
    # po = 4/6; pe = (3*3 + 2*3 + 1*0)/36 = 15/36; kappa = (4/6 - 15/36)/(21/36) = 3/7
    k = cohen_kappa(a, b)
    assert k.kappa == pytest.approx(3 / 7)
    assert cohen_kappa(b, a).kappa == pytest.approx(3 / 7)


def test_perfect_and_opposite() -> None:
    assert cohen_kappa(["agree", "disagree"] * 3, ["agree", "disagree"] * 3).kappa == pytest.approx(1.0)
    assert cohen_kappa(["agree", "disagree"] * 3, ["disagree", "agree"] * 3).kappa == pytest.approx(-1.0)


def test_degenerate_cases_do_not_divide_by_zero() -> None:
    same = cohen_kappa(["agree"] * 4, ["agree"] * 4)
    assert same.kappa is None and same.observed == 1.0 and "undefined" in same.note
    empty = cohen_kappa([], [])
    assert empty.kappa is None and empty.n == 0
    # one rater constant, the other not: defined, and zero
    const = cohen_kappa(["agree"] * 4, ["agree", "agree", "disagree", "unsure"])
    assert const.kappa == pytest.approx(0.0) and const.observed == pytest.approx(0.5)
    with pytest.raises(ValueError):
        cohen_kappa(["agree"], [])


def test_pairs_use_only_flags_both_judged_and_include_the_tool() -> None:
    reviews = [Review(1, "sup", "agree"), Review(2, "sup", "disagree"), Review(3, "sup", "agree"),
               Review(1, "tra", "agree"), Review(2, "tra", "agree"), Review(4, "tra", "unsure"),
               Review(99, "tra", "agree")]  # a flag not in the set: ignored
    report = agreement_from_reviews(reviews, [1, 2, 3, 4])
    pairs = {(p.a, p.b): p for p in report.pairs}
    assert set(pairs) == {(TOOL, "sup"), (TOOL, "tra"), ("sup", "tra")}
    st = pairs[("sup", "tra")]
    assert st.n == 2 and st.observed == pytest.approx(0.5)
    # sup: agree, disagree; tra: agree, agree -> pe = (1*2)/4 = 0.5, kappa = 0
    assert st.kappa == pytest.approx(0.0)
    tool_sup = pairs[(TOOL, "sup")]
    assert tool_sup.n == 3 and tool_sup.observed == pytest.approx(2 / 3) and tool_sup.kappa == pytest.approx(0.0)
    assert report.to_dict()["pairs"][0]["a"] == TOOL
    assert any("sup / tra" in line for line in report.lines())


def test_agreement_on_a_project_file(tmp_path: Path, synthetic_video) -> None:
    video = tmp_path / "hap.mp4"
    video.symlink_to(synthetic_video(0))
    consent = {"participants": [{"name": "A", "role": "client"}], "scopes": ["supervision"],
               "obtained": "2026-01-01"}
    with Project.create(tmp_path / "p.cuewatch") as p:
        rid = p.recordings.add(video, consent=json.dumps(consent)).id
        flags = [Flag(i, i + 1, "incongruence", 0, {}, {}, 0.5, 0.5) for i in range(6)]
        p.flags.replace(rid, flags, [])
        sup = ["agree", "agree", "disagree", "disagree", "agree", "unsure"]
        tra = ["agree", "disagree", "disagree", "disagree", "agree", "agree"]
        for f, s, t in zip(flags, sup, tra):
            p.reviews.set_verdict(f.id, "sup", "unsure")  # replaced below: only current verdicts count
            p.reviews.set_verdict(f.id, "sup", s)
            p.reviews.set_verdict(f.id, "tra", t)
        report = project_agreement(p)
    pair = next(x for x in report.pairs if (x.a, x.b) == ("sup", "tra"))
    assert pair.n == 6 and pair.kappa == pytest.approx(3 / 7)


def test_the_tool_rates_by_its_own_confidence() -> None:
    flags = [Flag(i, i + 1, "incongruence", 0, {}, {}, 0.5, c, id=i + 1)
             for i, c in enumerate([0.9, 0.8, 0.3, 0.2])]
    assert tool_verdicts(flags) == {1: "agree", 2: "agree", 3: "unsure", 4: "unsure"}
    reviews = [Review(1, "sup", "agree"), Review(2, "sup", "agree"), Review(3, "sup", "unsure"),
               Review(4, "sup", "disagree")]
    report = agreement_from_reviews(reviews, [1, 2, 3, 4], tool=tool_verdicts(flags))
    tool_sup = next(p for p in report.pairs if (p.a, p.b) == (TOOL, "sup"))
    # observed 3/4; expected: tool agree .5, unsure .5; sup agree .5, unsure .25, disagree .25
    # pe = .5*.5 + .5*.25 = .375 -> kappa = (.75 - .375) / .625 = 0.6
    assert tool_sup.kappa == pytest.approx(0.6)
