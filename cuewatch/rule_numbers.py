"""The hand-set rule numbers, read once from ``cuewatch/rules.toml`` and checked.

One declarative file holds every number that decides behaviour and was set by hand (AU
cues, prototypes, valence, confidence, the neutral finder, flag severity, stated-mood
weights, the response window, synchrony); this module reads it into frozen dataclasses
(``RULES``), one per section. A missing or unknown key, a wrong type or a name that points
nowhere (an AU no cue reads) is a ``CuewatchError`` naming the key, raised at import:
cuewatch never runs on half a rule set.

The stages read their numbers from ``RULES`` (the settings dataclasses take their defaults
from it); ``cuewatch.rules`` hashes ``as_data(RULES)`` into provenance and the reading hash,
and ``stage_hash`` puts the expression stage's sections into its cache key. Pure standard
library: any layer may import it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from cuewatch.errors import CuewatchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: the rules file, package data beside this module.
RULES_FILE = "rules.toml"
RULES_PATH = Path(__file__).with_name(RULES_FILE)

#: how the automatic neutral searches for a resting face (``[neutral] rest_search``).
REST_SEARCHES: tuple[str, ...] = ("regions", "whole_face", "fitted", "screened")

#: one AU cue: (source "g"/"b", measure or blendshape name, sign, full_scale, weight).
Cue = tuple[str, str, int, float, float]


@dataclass(frozen=True)
class ActionUnitRules:
    noise_floor: float
    cue_min: float
    cue_max: float
    cues: dict[str, tuple[Cue, ...]]


@dataclass(frozen=True)
class UnilateralRules:
    geometry_dead: float
    geometry_full: float
    blendshape_dead: float
    blendshape_full: float
    cue_max: float
    geometry_weight: float
    blendshape_weight: float


@dataclass(frozen=True)
class NeutralRules:
    fraction: float
    min_frames: int
    min_confidence: float
    blendshape_rest_cap: float
    rest_min_share: float
    rest_min_spread_s: float
    rest_density_factor: float
    mode_points: int
    rest_search: str
    rest_min_neutral: float
    geometry_scale_default: float
    blendshape_scale_cap: float
    rest_ceiling: dict[str, dict[str, float]]
    rest_max_activity: dict[str, float]
    region_aus: dict[str, dict[str, float]]


@dataclass(frozen=True)
class ContextRules:
    closure_level: float
    closure_hole_s: float
    blink_max_s: float
    closure_full_s: float
    mouth_open_lo: float
    mouth_open_hi: float
    widen_lo: float
    widen_hi: float
    cheek_lo: float
    cheek_hi: float
    felt_smile_lo: float
    felt_smile_hi: float


@dataclass(frozen=True)
class CategoryRules:
    neutral_level: float
    evidence_min: float


@dataclass(frozen=True)
class PrototypeRules:
    match: dict[str, float]
    contradictions: dict[str, float]


@dataclass(frozen=True)
class ValenceRules:
    gain: float
    weights: dict[str, float]


@dataclass(frozen=True)
class ArousalRules:
    weights: dict[str, float]


@dataclass(frozen=True)
class SmoothingRules:
    half_width_s: float
    cut_shift: float
    cut_speed: float
    cut_scale: float
    cut_shape: float


@dataclass(frozen=True)
class ConfidenceRules:
    yaw_free_deg: float
    yaw_scale_deg: float
    pitch_free_deg: float
    pitch_scale_deg: float
    min_face_px: float
    good_face_px: float
    noise_ref_px: float
    noise_factor_max: float
    min_detection: float
    good_detection: float
    min_sharpness: float
    good_sharpness: float
    flat_reference_percentile: float
    flat_min: float
    flat_ok: float
    flicker_ok: float
    flicker_max: float
    jitter_ok: float
    jitter_max: float
    cue_half_width_s: float
    flicker_max_gap_s: float


@dataclass(frozen=True)
class FlagRules:
    whole_strength_share: float
    severity_gap_weight: float
    severity_span_weight: float
    confidence_certainty_base: float
    confidence_certainty_weight: float
    confidence_coverage_base: float
    confidence_coverage_weight: float
    evidence_au_min: float
    evidence_aus: int


@dataclass(frozen=True)
class StatedMoodRules:
    intensifier_factor: float
    intensifier_reach: int
    diminisher_factor: float
    diminisher_reach: int
    negation_window: int
    negated_positive_base: float
    negated_positive_slope: float
    negated_negative_factor: float
    vader_min_score: float
    vader_max_score: float
    vader_scale: float
    vocabulary_weight: float
    vader_weight: float
    after_contrast_weight: float
    before_contrast_weight: float
    neutral_word_weight: float
    category_strength_floor: float
    whole_answer_words: int
    min_content_words: int
    no_feeling_certainty: float
    no_feeling_hedged_certainty: float
    vocabulary_certainty: float
    fallback_certainty: float
    mixed_certainty_factor: float
    negated_certainty_factor: float
    one_hedge_valence_factor: float
    hedges_valence_factor: float
    hedge_certainty_factor: float
    max_hedges_counted: int
    min_certainty: float


@dataclass(frozen=True)
class ResponseRules:
    window_s: float
    max_turns: int
    feel_verb_reach: int
    negation_reach: int


@dataclass(frozen=True)
class SynchronyRules:
    rate_hz: float
    window_s: float
    step_s: float
    max_lag_s: float
    max_gap_s: float
    min_confidence: float
    min_valid: float
    segment_s: float
    n_surrogates: int
    seed: int
    baseline_s: float
    follow_s: float
    client_change: float
    therapist_change: float
    min_seen_share: float


@dataclass(frozen=True)
class RuleNumbers:
    """Every section of the rules file, in file order."""

    action_units: ActionUnitRules
    unilateral: UnilateralRules
    neutral: NeutralRules
    context: ContextRules
    categories: CategoryRules
    prototypes: dict[str, PrototypeRules]
    valence: ValenceRules
    arousal: ArousalRules
    smoothing: SmoothingRules
    confidence: ConfidenceRules
    flags: FlagRules
    stated_mood: StatedMoodRules
    response: ResponseRules
    synchrony: SynchronyRules


#: the sections the expression stage reads (its cache key carries their hash).
EXPRESSION_SECTIONS: tuple[str, ...] = (
    "action_units", "unilateral", "neutral", "context", "categories", "prototypes",
    "valence", "arousal", "smoothing", "confidence")
#: the sections read beside the face, not by its reading (``cuewatch.rules.NOT_THE_READING``).
ATTUNEMENT_SECTIONS: tuple[str, ...] = ("response", "synchrony")
#: the cues that are not action units (prototype and evidence names beside the AUs).
NON_AU_CUES: tuple[str, ...] = ("unilateral", "eyes_shut")


class _Bad(Exception):
    """A problem at a key path; turned into one CuewatchError naming file and key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _convert(value: Any, tp: Any, key: str) -> Any:
    """``value`` (as tomllib parsed it) checked against the annotation ``tp``."""
    origin = get_origin(tp)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(key, f"expected a number, got {_kind(value)} ({value!r})")
        return float(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _Bad(key, f"expected true or false, got {_kind(value)} ({value!r})")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(key, f"expected an integer, got {_kind(value)} ({value!r})")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _Bad(key, f"expected a string, got {_kind(value)} ({value!r})")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise _Bad(key, f"expected a table, got {_kind(value)} ({value!r})")
        if not value:
            raise _Bad(key, "is empty")
        item = get_args(tp)[1]
        return {k: _convert(v, item, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, list):
            raise _Bad(key, f"expected a list, got {_kind(value)} ({value!r})")
        if len(args) == 2 and args[1] is Ellipsis:
            if not value:
                raise _Bad(key, "is empty")
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Bad(key, f"expected {len(args)} items, got {len(value)} ({value!r})")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    raise TypeError(f"no rule type {tp!r}")  # a programming error in this module


def _build(cls: Any, table: Any, key: str) -> Any:
    where = f"[{key}]" if key else "the top level"
    if not isinstance(table, dict):
        raise _Bad(key, f"expected a table, got {_kind(table)} ({table!r})")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in table]
    if missing:
        raise _Bad(f"{key}.{missing[0]}" if key else missing[0], f"missing key (in {where})")
    extra = [n for n in table if n not in names]
    if extra:
        raise _Bad(f"{key}.{extra[0]}" if key else extra[0],
                   f"unknown key (in {where}; known: {', '.join(names)})")
    return cls(**{n: _convert(table[n], hints[n], f"{key}.{n}" if key else n) for n in names})


def _check_names(rules: RuleNumbers) -> None:
    """Names that must point somewhere: every AU a prototype, a region or arousal weighs has
    cues; every category valence weighs is a prototype; every cue's source is g or b."""
    aus = set(rules.action_units.cues)
    for au, cues in rules.action_units.cues.items():
        for i, cue in enumerate(cues):
            if cue[0] not in ("g", "b"):
                raise _Bad(f"action_units.cues.{au}[{i}][0]",
                           f"source must be \"g\" or \"b\", got {cue[0]!r}")
            if cue[2] not in (1, -1):
                raise _Bad(f"action_units.cues.{au}[{i}][2]", f"sign must be 1 or -1, got {cue[2]!r}")
            if cue[3] <= 0:
                raise _Bad(f"action_units.cues.{au}[{i}][3]", f"full_scale must be positive, got {cue[3]!r}")

    def known(names: Iterable[str], key: str, allowed: set[str]) -> None:
        for name in names:
            if name not in allowed:
                raise _Bad(f"{key}.{name}", f"names nothing known (known: {', '.join(sorted(allowed))})")

    for cat, proto in rules.prototypes.items():
        known(proto.match, f"prototypes.{cat}.match", aus | set(NON_AU_CUES))
        known(proto.contradictions, f"prototypes.{cat}.contradictions", aus | set(NON_AU_CUES))
    for region, weights in rules.neutral.region_aus.items():
        known(weights, f"neutral.region_aus.{region}", aus)
    regions = set(rules.neutral.region_aus)
    known(rules.neutral.rest_ceiling, "neutral.rest_ceiling", regions)
    known(rules.neutral.rest_max_activity, "neutral.rest_max_activity", regions)
    if rules.neutral.rest_search not in REST_SEARCHES:
        raise _Bad("neutral.rest_search", f"must be one of {', '.join(REST_SEARCHES)}, "
                   f"got {rules.neutral.rest_search!r}")
    known(rules.arousal.weights, "arousal.weights", aus)
    known(rules.valence.weights, "valence.weights", set(rules.prototypes))


def load_rules(path: Union[str, Path] = RULES_PATH) -> RuleNumbers:
    """The rule numbers of ``path``, checked; a ``CuewatchError`` naming the key otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise CuewatchError(f"cannot read the rules file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CuewatchError(f"the rules file {path} is not valid TOML: {exc}") from None
    return rules_from_data(doc, str(path))


def rules_from_data(doc: dict[str, Any], source: str = "(data)") -> RuleNumbers:
    """The rule numbers of an already parsed rules document, checked like the file."""
    try:
        rules: RuleNumbers = _build(RuleNumbers, doc, "")
        _check_names(rules)
    except _Bad as exc:
        raise CuewatchError(f"rules file {source}: {exc}") from None
    return rules


def as_data(rules: RuleNumbers, sections: Iterable[str] = ()) -> dict[str, Any]:
    """The rules as plain data (what is hashed), all sections or only ``sections``."""
    data = dataclasses.asdict(rules)
    wanted = tuple(sections)
    return {k: v for k, v in data.items() if k in wanted} if wanted else data


def stage_hash(rules: RuleNumbers, sections: Iterable[str]) -> str:
    """SHA-256 (first 16 hex digits) of the named sections: a stage's part of a cache key."""
    token = json.dumps(as_data(rules, sections), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(token.encode()).hexdigest()[:16]


#: the rule numbers cuewatch runs on, read once at import.
RULES: RuleNumbers = load_rules()
