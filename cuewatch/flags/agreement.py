"""Agreement between reviewers, and between the tool and each reviewer: Cohen's kappa.

A supervisor sees at once where a trainee's verdicts part from their own. Each pair is
compared on the flags both judged (current verdicts only). The tool counts as a rater
named ``TOOL``: it "agrees" with a flag it raised confidently and is "unsure" of one it
raised with a confidence below ``TOOL_SURE``, the same three-way scale reviewers use. (A
tool that always said "agree" would have a kappa of 0 against everyone by construction.)

Degenerate cases never divide by zero: with no common flags, or when chance agreement is
already 1 (both raters gave one and the same label throughout), kappa is undefined and
reported as ``None`` with a note; observed agreement is still given.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from cuewatch.domain import VERDICTS, Review

#: the name under which the tool appears as a rater.
TOOL = "cuewatch"
#: a flag raised with at least this confidence is one the tool "agrees" with; below, "unsure".
TOOL_SURE = 0.6


def tool_verdicts(flags: Sequence[Any]) -> dict[int, str]:
    """The tool's own verdict on each flag it raised, from its confidence."""
    return {int(f.id): "agree" if float(f.confidence) >= TOOL_SURE else "unsure" for f in flags}


@dataclass
class KappaResult:
    n: int
    kappa: Optional[float]
    observed: Optional[float]
    expected: Optional[float]
    note: str = ""


@dataclass
class PairAgreement:
    a: str
    b: str
    n: int
    kappa: Optional[float]
    observed: Optional[float]
    expected: Optional[float]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AgreementReport:
    reviewers: list[str]
    n_flags: int
    pairs: list[PairAgreement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"reviewers": list(self.reviewers), "n_flags": self.n_flags, "tool": TOOL,
                "pairs": [p.to_dict() for p in self.pairs]}

    def lines(self) -> list[str]:
        """A plain table for the command line."""
        if not self.pairs:
            return ["no flag has been judged by two raters yet"]
        width = max(len(f"{p.a} / {p.b}") for p in self.pairs)
        out = [f"{'pair':<{width}}  {'n':>4}  {'kappa':>6}  {'agree%':>6}  note"]
        for p in self.pairs:
            k = f"{p.kappa:6.3f}" if p.kappa is not None else "   n/a"
            o = f"{100 * p.observed:5.1f}%" if p.observed is not None else "   n/a"
            out.append(f"{p.a + ' / ' + p.b:<{width}}  {p.n:>4}  {k}  {o:>6}  {p.note}".rstrip())
        return out


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> KappaResult:
    """Cohen's kappa of two raters' labels on the same items (paired by position)."""
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two label sequences of the same length")
    n = len(a)
    if n == 0:
        return KappaResult(0, None, None, None, "no flags judged by both")
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[label] * cb[label] for label in set(ca) | set(cb)) / (n * n)
    if expected >= 1.0 - 1e-12:
        only = next(iter(ca))
        return KappaResult(n, None, observed, expected,
                           f"both said only '{only}': kappa undefined")
    return KappaResult(n, (observed - expected) / (1.0 - expected), observed, expected)


def pairwise(verdicts: Mapping[str, Mapping[int, str]], flag_ids: Sequence[int],
             include_tool: bool = True,
             tool: Optional[Mapping[int, str]] = None) -> list[PairAgreement]:
    """Kappa for every pair of raters. ``verdicts``: reviewer -> {flag_id: verdict};
    ``tool``: the tool's verdict per flag (default: "agree" on every flag)."""
    raters = sorted(verdicts)
    table: dict[str, Mapping[int, str]] = {r: verdicts[r] for r in raters}
    pairs = list(itertools.combinations(raters, 2))
    if include_tool:
        table[TOOL] = dict(tool) if tool is not None else {fid: "agree" for fid in flag_ids}
        pairs = [(TOOL, r) for r in raters] + pairs
    out = []
    for x, y in pairs:
        common = sorted(set(table[x]) & set(table[y]))
        k = cohen_kappa([table[x][f] for f in common], [table[y][f] for f in common])
        out.append(PairAgreement(x, y, k.n, k.kappa, k.observed, k.expected, k.note))
    return out


def agreement_from_reviews(reviews: Sequence[Review], flag_ids: Sequence[int],
                           include_tool: bool = True,
                           tool: Optional[Mapping[int, str]] = None) -> AgreementReport:
    """Agreement from current reviews (one per reviewer per flag)."""
    known = set(flag_ids)
    verdicts: dict[str, dict[int, str]] = {}
    for r in reviews:
        if r.flag_id in known:
            if r.verdict not in VERDICTS:
                raise ValueError(f"unknown verdict {r.verdict!r}")
            verdicts.setdefault(r.reviewer, {})[r.flag_id] = r.verdict
    return AgreementReport(sorted(verdicts), len(known),
                           pairwise(verdicts, sorted(known), include_tool, tool))


def project_agreement(project: Any, recording_id: Optional[int] = None,
                      include_tool: bool = True) -> AgreementReport:
    """Agreement over a project's flags (one recording, or all)."""
    flags = project.flags.all(recording_id)
    reviews = project.reviews.all(recording_id=recording_id)
    return agreement_from_reviews(reviews, [f.id for f in flags], include_tool,
                                  tool_verdicts(flags))
