"""The rules behind every result, as one fingerprint that provenance carries.

Every hand-set rule number lives in ``cuewatch/rules.toml`` (read by
``cuewatch.rule_numbers``); its parsed content is hashed here, whole. A flag depends
on the face pass (``FACE_PASS_REVISION``), the expression stage
(``EXPRESSION_REVISION``, the defaults of ``ExpressionSettings``/``AUSettings`` and the
fitted reading's weights, ``cuewatch.expression.fitted``) and
the flag rules (the defaults of ``FlagSettings`` and the sensitivity presets, read from
``cuewatch/flags/operating_points.json``, which records the ``reading_hash`` of all the
rest: the reading of the face the points were chosen for). The attunement measures
depend on the response window (``cuewatch.words.response``) and the synchrony settings
(``SynchronySettings``): the rules hash covers them too, the reading hash does not (they
read nothing of the client's face the flags depend on). Two
results made under different rules must not carry the same provenance, so all of these
are hashed here, once.

When a rule's number changes, ``rules_hash`` changes and the golden-output test in
tests/test_rules.py fails until its pin is updated; when a stage's code changes what it
computes without a rule number moving, bump that stage's revision (and ``__version__``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Optional

from cuewatch import formats, rule_numbers
from cuewatch.attunement.synchrony import SynchronySettings
from cuewatch.expression import fitted, series
from cuewatch.flags import incongruence
from cuewatch.options import FlagSettings
from cuewatch.words import response

# The constants are read from their modules at call time: they are defined there, once.

#: the parts of ``rules_document`` that are not the reading of the face: the sensitivity
#: presets (chosen under the reading) and the attunement settings (read beside it).
NOT_THE_READING: tuple[str, ...] = ("presets", "attunement")
#: the rules file's sections that are the reading (all but the attunement's).
_READING_SECTIONS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(rule_numbers.RuleNumbers)
    if f.name not in rule_numbers.ATTUNEMENT_SECTIONS)


def rules_document() -> dict[str, Any]:
    """Every rule number and revision a result depends on, as plain data."""
    return {
        "face_pass_revision": formats.FACE_PASS_REVISION,
        "expression_revision": series.EXPRESSION_REVISION,
        "rule_numbers": rule_numbers.as_data(rule_numbers.RULES, _READING_SECTIONS),
        "expression": series.ExpressionSettings().to_dict(),
        "expression_model_sha256": fitted.model_sha256(),
        "flags": FlagSettings().to_dict(),
        "presets": {name: dataclasses.asdict(th)
                    for name, th in sorted(incongruence.PRESETS.items())},
        "attunement": {"response_window_s": response.RESPONSE_WINDOW_S,
                       "response_max_turns": response.RESPONSE_MAX_TURNS,
                       "synchrony": SynchronySettings().to_dict(),
                       "rule_numbers": rule_numbers.as_data(rule_numbers.RULES,
                                                            rule_numbers.ATTUNEMENT_SECTIONS)},
    }


def _hash(doc: dict[str, Any]) -> str:
    token = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def rules_hash() -> str:
    """A stable SHA-256 (first 16 hex digits) of ``rules_document``."""
    return _hash(rules_document())


def reading_hash() -> str:
    """The hash of every rule but the sensitivity presets and the attunement settings
    (``NOT_THE_READING``): what the operating points are derived under
    (``cuewatch/flags/operating_points.json`` records it). When it moves, the presets were
    chosen for another reading of the face and must be derived again."""
    return _hash({k: v for k, v in rules_document().items() if k not in NOT_THE_READING})


def rules_provenance(neutral_span: Optional[Sequence[float]] = None) -> dict[str, Any]:
    """What provenance says about the rules: both revisions, the rules hash and the
    neutral span used (None: found automatically)."""
    return {"face_pass_revision": formats.FACE_PASS_REVISION,
            "expression_revision": series.EXPRESSION_REVISION, "rules_hash": rules_hash(),
            "neutral_span": [float(x) for x in neutral_span] if neutral_span else None}
