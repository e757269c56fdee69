"""Operating points: the sensitivity presets chosen from role-play cases, not set by hand.

low / medium / high each stand for a target false-alarm rate (``TARGET_FA_PER_MIN``). For
every setting on a grid of the main decision thresholds (``GRID``) the flags of every
role-play case are cut from its cached expression series (the face pass and the
expression run once per case, through the same ``run_pipeline`` as ``cuewatch analyze``)
and scored with the evaluation set's own scorer (``score_flags.py``: an event is found
when a flag overlaps 40% of it; a flag matching no event outside don't-care spans is a
false alarm). Per target, the setting with the best recall whose false alarms stay under
the target is chosen, by leave-one-case-out cross-validation on the selection cases
(the estimate is the pooled score of the left-out cases, with the spread across folds),
then once on all selection cases; held-out cases, of people no selection case shows,
are scored only at the end. A chosen point that scores worse on the held-out cases than
today's preset of that name is not taken: today's stays, and the file says so.

The result is one committed data file, ``cuewatch/flags/operating_points.json``, which
``cuewatch.flags.incongruence`` reads its presets from; it records the reading it was
derived under (``cuewatch.rules.reading_hash``), so when the expression reading changes
the points are stale until ``python benchmarks/eval_operating_points.py --write`` derives
them again (tests/test_operating_points.py fails until then).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.flags.incongruence import Thresholds, flags_for_series
from cuewatch.progress import Progress

#: the sensitivity names and the false alarms per minute each may raise at most.
TARGET_FA_PER_MIN: dict[str, float] = {"low": 0.1, "medium": 0.3, "high": 1.0}

#: the decision thresholds swept, with their values; every other threshold of a grid
#: setting is medium's (today's file) so that a point differs from it only where swept.
GRID: dict[str, tuple[float, ...]] = {
    "valence": (0.08, 0.12, 0.16, 0.20, 0.25, 0.30, 0.35, 0.40),
    "min_duration": (0.3, 0.5, 0.8, 1.2, 1.6),
    "smile_margin": (0.0, 0.05, 0.1, 0.2),
    "category_score": (0.4, 0.5, 0.6, 0.7),
    "leak_valence": (0.5, 0.6, 0.7, 0.8),
}

#: who is the client in each case, by the start of its name (shared/eval and
#: benchmarks/build_cases.py): the held-out cases are those of people the selection
#: cases never show, and every figure says whose faces it covers.
PEOPLE_BY_CASE_PREFIX: tuple[tuple[str, str], ...] = (
    ("ho_pyfame_wide_left", "RAVDESS woman (pyfame sample_03/04)"),
    ("ho_pyfame_single", "RAVDESS actor 01"),
    ("ho_ravdess", "RAVDESS actor 01"),
    ("ho_pexels", "Pexels woman"),
    ("pexels", "Pexels woman"),
    ("ho_crema", "CREMA-D 1001"),
    ("crema", "CREMA-D 1001"),
)

#: the file format of the evaluation set's ground truth and transcripts.
TRUTH_SUFFIX = ".truth.json"


@dataclass(frozen=True)
class RolePlayCase:
    """One evaluation role-play: video, transcript and ground truth, and whose face it is."""

    name: str
    video: Path
    transcript: Path
    truth: Path
    person: str


def person_of(case_name: str) -> str:
    """The client's identity in a named case (``PEOPLE_BY_CASE_PREFIX``)."""
    for prefix, person in PEOPLE_BY_CASE_PREFIX:
        if case_name.startswith(prefix):
            return person
    return f"unknown ({case_name})"


def role_play_cases(folder: Path) -> list[RolePlayCase]:
    """Every complete case in ``folder``: NAME.truth.json with the video and transcript
    it names (default NAME.mp4 and NAME.vtt)."""
    out = []
    for truth in sorted(Path(folder).glob("*" + TRUTH_SUFFIX)):
        stem = truth.name[: -len(TRUTH_SUFFIX)]
        doc = json.loads(truth.read_text())
        video = truth.parent / doc.get("video", stem + ".mp4")
        vtt = truth.parent / doc.get("transcript", stem + ".vtt")
        if video.is_file() and vtt.is_file():
            out.append(RolePlayCase(stem, video, vtt, truth, person_of(stem)))
    return out


def load_scorer(path: Path) -> ModuleType:
    """The evaluation set's scorer (``score_flags.py``), imported from where it lies."""
    spec = importlib.util.spec_from_file_location("score_flags", path)
    if spec is None or spec.loader is None or not Path(path).is_file():
        raise CuewatchError(f"no scorer at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class PreparedCase:
    """A case with what flag cutting needs, computed once: the client's expression series
    and stated moods (the face pass is in the feature cache)."""

    case: RolePlayCase
    series: Any
    segments: list
    client_speaker: Optional[str]
    client_track: Optional[int]


def prepare_cases(cases: Sequence[RolePlayCase], model_path: Path, model_sha256: str,
                  progress: Optional[Progress] = None, cache_dir: Optional[Path] = None
                  ) -> list[PreparedCase]:
    """Run each case through ``run_pipeline`` as ``cuewatch analyze`` does (default settings,
    ``--client-face auto``, automatic neutral) and keep the client's expression series."""
    from cuewatch.expression.cache import track_expression
    from cuewatch.features.folder import load_features
    from cuewatch.options import AnalysisSettings
    from cuewatch.recording.analyse import run_pipeline

    progress = progress or Progress()
    out = []
    for i, case in enumerate(cases):
        progress.report(i / max(1, len(cases)), f"features of {case.name}")
        result = run_pipeline(case.video, settings=AnalysisSettings(), model_path=model_path,
                              model_sha256=model_sha256, transcript=case.transcript,
                              progress=progress.scaled(i / len(cases), (i + 1) / len(cases)),
                              cache_dir=cache_dir)
        series = None
        if result.client_track is not None:
            series = track_expression(load_features(result.features_dir), result.client_track)
        out.append(PreparedCase(case, series, result.segments, result.client_speaker,
                                result.client_track))
    progress.report(1.0, "features ready")
    return out


#: the counts the scorer sums over cases, in this order (``Score`` reads them).
COUNTS = ("events", "found", "flags", "matched", "false_alarms", "minutes")


@dataclass(frozen=True)
class Score:
    """The scorer's totals over some cases, and what it prints from them."""

    events: float
    found: float
    flags: float
    matched: float
    false_alarms: float
    minutes: float

    @classmethod
    def of(cls, counts: np.ndarray) -> Score:
        return cls(*(float(x) for x in np.asarray(counts).reshape(-1, len(COUNTS)).sum(axis=0)))

    # the scorer's own formulas (score_flags.main)
    @property
    def precision(self) -> float:
        return self.matched / max(1.0, self.matched + self.false_alarms)

    @property
    def recall(self) -> float:
        return self.found / max(1.0, self.events)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / max(1e-9, p + r)

    @property
    def fa_per_min(self) -> float:
        return self.false_alarms / max(1e-9, self.minutes)

    def summary(self) -> dict[str, float]:
        return {"precision": round(self.precision, 3), "recall": round(self.recall, 3),
                "f1": round(self.f1, 3), "fa_per_min": round(self.fa_per_min, 3),
                "events": int(self.events), "found": int(self.found),
                "false_alarms": int(self.false_alarms), "minutes": round(self.minutes, 3)}


def grid_settings(base: Thresholds, extra: Iterable[Thresholds] = (),
                  grid: Mapping[str, Sequence[float]] = GRID) -> list[Thresholds]:
    """Every combination of the grid's values over ``base``, then ``extra`` (today's presets,
    so the curve shows where they sit)."""
    names = list(grid)
    out = [dataclasses.replace(base, **dict(zip(names, values)))
           for values in itertools.product(*(grid[n] for n in names))]
    return out + [th for th in extra if th not in out]


def flag_counts(prepared: Sequence[PreparedCase], settings: Sequence[Thresholds],
                scorer: ModuleType, progress: Optional[Progress] = None) -> np.ndarray:
    """(settings, cases, COUNTS): each case's flags at each setting, scored by ``scorer``."""
    progress = progress or Progress()
    counts = np.zeros((len(settings), len(prepared), len(COUNTS)))
    with tempfile.TemporaryDirectory(prefix="cuewatch-op-") as tmp:
        path = Path(tmp) / "flags.json"
        for i, th in enumerate(settings):
            if i % 50 == 0:
                progress.report(i / max(1, len(settings)), f"setting {i + 1} of {len(settings)}")
            for j, p in enumerate(prepared):
                flags = [] if p.series is None or p.client_track is None else flags_for_series(
                    p.series, p.segments, p.client_speaker, p.client_track, th)
                path.write_text(json.dumps({"flags": [{"start": f.start, "end": f.end}
                                                      for f in flags]}))
                s = scorer.score(str(p.case.truth), str(path))
                counts[i, j] = [s[k] for k in COUNTS]
    progress.report(1.0, "scored")
    return counts


def _distance(a: Thresholds, b: Thresholds) -> float:
    """How far apart two settings are along the swept axes, in grid spans."""
    return sum(abs(getattr(a, n) - getattr(b, n)) / (max(v) - min(v)) for n, v in GRID.items())


def choose(counts: np.ndarray, settings: Sequence[Thresholds], target: float,
           today: Thresholds) -> int:
    """The setting with the best recall whose false alarms per minute stay within
    ``target`` over these cases; ties go to higher precision, then to the setting nearest
    today's (the numbers move only where the data say so)."""
    best, key = -1, None
    for i, th in enumerate(settings):
        s = Score.of(counts[i])
        if s.fa_per_min > target + 1e-9:
            continue
        k = (s.recall, s.precision, -_distance(th, today))
        if key is None or k > key:
            best, key = i, k
    if best < 0:  # nothing meets the target: the fewest false alarms
        best = int(np.argmin([Score.of(counts[i]).fa_per_min for i in range(len(settings))]))
    return best


def cross_validate(counts: np.ndarray, settings: Sequence[Thresholds], target: float,
                   today: Thresholds) -> dict[str, Any]:
    """Leave-one-case-out: choose on the other cases, score the left-out one. The estimate
    is the pooled score of the left-out cases; the spread is over folds."""
    n = counts.shape[1]
    held = np.zeros((n, len(COUNTS)))
    chosen = []
    for j in range(n):
        train = [k for k in range(n) if k != j]
        i = choose(counts[:, train], settings, target, today)
        chosen.append(i)
        held[j] = counts[i, j]
    folds = [Score.of(held[j]) for j in range(n)]
    with_events = [f.recall for f in folds if f.events]
    fa = [f.fa_per_min for f in folds]
    return {"estimate": Score.of(held).summary(),
            "folds": n, "distinct_settings_chosen": len(set(chosen)),
            "fold_fa_per_min": {"min": round(min(fa), 3), "max": round(max(fa), 3),
                                "std": round(float(np.std(fa)), 3)},
            "fold_recall": {"min": round(min(with_events), 3) if with_events else None,
                            "max": round(max(with_events), 3) if with_events else None,
                            "std": round(float(np.std(with_events)), 3) if with_events else None}}


def pareto_front(scores: Sequence[Score]) -> list[int]:
    """Indices of the settings no other beats on both recall and false alarms per minute,
    by false alarms (one per distinct point)."""
    order = sorted(range(len(scores)), key=lambda i: (scores[i].fa_per_min, -scores[i].recall,
                                                      -scores[i].precision))
    front, best_recall = [], -1.0
    for i in order:
        if scores[i].recall > best_recall + 1e-12:
            front.append(i)
            best_recall = scores[i].recall
    return front


@dataclass
class Derivation:
    """What ``derive`` found: per sensitivity the point, why, and its figures."""

    points: dict[str, Thresholds]
    report: dict[str, Any]
    settings: list[Thresholds]
    selection_counts: np.ndarray
    held_out_counts: np.ndarray


def derive(selection: Sequence[PreparedCase], held_out: Sequence[PreparedCase],
           today: Mapping[str, Thresholds], scorer: ModuleType,
           targets: Mapping[str, float] = TARGET_FA_PER_MIN,
           progress: Optional[Progress] = None) -> Derivation:
    """The operating points from the selection cases, checked on the held-out ones: the
    grid around today's medium (and today's presets) scored on both, then ``decide``."""
    if not selection:
        raise CuewatchError("no selection cases to choose operating points on")
    progress = progress or Progress()
    settings = grid_settings(today["medium"], today.values())
    sel = flag_counts(selection, settings, scorer, progress.scaled(0.0, 0.7))
    ho = flag_counts(held_out, settings, scorer, progress.scaled(0.7, 1.0)) if held_out else \
        np.zeros((len(settings), 0, len(COUNTS)))
    points, report = decide(sel, ho, settings, today, targets)
    return Derivation(points, report, settings, sel, ho)


def decide(sel: np.ndarray, ho: np.ndarray, settings: Sequence[Thresholds],
           today: Mapping[str, Thresholds], targets: Mapping[str, float] = TARGET_FA_PER_MIN
           ) -> tuple[dict[str, Thresholds], dict[str, Any]]:
    """Per sensitivity: the choice on the selection counts, its cross-validated estimate,
    and the point taken. A choice scoring worse on the held-out counts than today's preset
    of that name (lower F1, or over its false-alarm target where today's is not) is not
    taken: today's stays. ``today`` must be among ``settings``."""
    points: dict[str, Thresholds] = {}
    report: dict[str, Any] = {}
    has_held_out = ho.shape[1] > 0
    for name, target in targets.items():
        now = today[name]
        i_now = list(settings).index(now)
        i = choose(sel, settings, target, now)
        cand, cur = Score.of(ho[i]), Score.of(ho[i_now])
        worse = has_held_out and (cand.f1 < cur.f1 - 1e-9 or
                                  (cand.fa_per_min > target >= cur.fa_per_min))
        points[name] = now if worse else settings[i]
        taken = i_now if worse else i
        report[name] = {
            "target_fa_per_min": target,
            "source": "today's preset kept: the cross-validated choice scores worse on the "
                      "held-out cases" if worse else "cross-validated choice",
            "cross_validation": cross_validate(sel, settings, target, now),
            "chosen_on_selection": Score.of(sel[i]).summary(),
            "chosen_on_held_out": cand.summary() if has_held_out else None,
            "today_on_selection": Score.of(sel[i_now]).summary(),
            "today_on_held_out": cur.summary() if has_held_out else None,
            "cross_validated_choice": {n: getattr(settings[i], n) for n in GRID},
            "point_on_selection": Score.of(sel[taken]).summary(),
            "point_on_held_out": Score.of(ho[taken]).summary() if has_held_out else None,
        }
    return points, report


def people(cases: Iterable[RolePlayCase]) -> list[str]:
    return sorted({c.person for c in cases})


def split_by_person(dev: Sequence[RolePlayCase], built: Sequence[RolePlayCase]
                    ) -> tuple[list[RolePlayCase], list[RolePlayCase]]:
    """Selection: the development cases and the built cases of the same people. Held out:
    the built cases of everyone else, so the held-out figures are for people no choice saw."""
    seen = {c.person for c in dev}
    return (list(dev) + [c for c in built if c.person in seen],
            [c for c in built if c.person not in seen])


def operating_points_document(derivation: Derivation, selection: Sequence[RolePlayCase],
                              held_out: Sequence[RolePlayCase], command: str, date: str
                              ) -> dict[str, Any]:
    """The committed operating-points file: the points, and how they were made (cases and
    people on each side, the command, the date, the reading's hash, targets and grid)."""
    from cuewatch.formats import OPERATING_POINTS_FORMAT, OPERATING_POINTS_VERSION
    from cuewatch.rules import reading_hash

    def listing(cases: Sequence[RolePlayCase]) -> list[dict[str, str]]:
        return [{"case": c.name, "person": c.person} for c in cases]

    return {
        "format": OPERATING_POINTS_FORMAT, "version": OPERATING_POINTS_VERSION,
        "points": {name: dataclasses.asdict(th) for name, th in derivation.points.items()},
        "derived": {
            "command": command, "date": date, "reading_hash": reading_hash(),
            "method": "per sensitivity, the grid setting with the best recall whose false "
                      "alarms per minute stay within the target on the selection cases "
                      "(ties: precision, then nearest today's); estimated by "
                      "leave-one-case-out; today's preset kept where the choice scores "
                      "worse on the held-out cases",
            "targets_fa_per_min": dict(TARGET_FA_PER_MIN),
            "grid": {k: list(v) for k, v in GRID.items()},
            "selection_cases": listing(selection), "selection_people": people(selection),
            "held_out_cases": listing(held_out), "held_out_people": people(held_out),
        },
        "report": derivation.report,
    }


def write_operating_points(doc: Mapping[str, Any], path: Optional[Path] = None) -> Path:
    """Write the operating-points file atomically (default: the one the presets come from)."""
    from cuewatch.files import write_text_atomic
    from cuewatch.flags.incongruence import OPERATING_POINTS_PATH

    return write_text_atomic(Path(path or OPERATING_POINTS_PATH), json.dumps(doc, indent=1) + "\n")
