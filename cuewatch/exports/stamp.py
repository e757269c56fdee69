"""Provenance as every export carries it: checked once, rendered per format.

The caller passes the dict made by ``cuewatch.provenance.provenance`` (cuewatch version,
model SHA-256, parameters, created). An export without it could not be traced back to
the model and settings that produced its flags, so a missing key is refused.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from cuewatch.errors import CuewatchError

PROVENANCE_KEYS: tuple[str, ...] = ("cuewatch_version", "model_sha256", "parameters", "created")


def check_provenance(provenance: Any, what: str = "export") -> dict[str, Any]:
    """The provenance as a plain JSON-safe dict; CuewatchError if it is missing or incomplete."""
    if not isinstance(provenance, Mapping):
        raise CuewatchError(f"no provenance given for {what}: every export must carry it")
    missing = [k for k in PROVENANCE_KEYS if k not in provenance]
    if missing:
        raise CuewatchError(f"provenance for {what} lacks {', '.join(missing)}")
    try:
        return json.loads(json.dumps(dict(provenance)))
    except (TypeError, ValueError) as exc:
        raise CuewatchError(f"provenance for {what} is not plain data: {exc}") from None


def _one_line(value: Any) -> str:
    if isinstance(value, str):
        return " ".join(value.split())
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def provenance_items(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, one-line value) pairs, the four known keys first, then any extra ones."""
    keys = list(PROVENANCE_KEYS) + sorted(k for k in provenance if k not in PROVENANCE_KEYS)
    return [(str(k), _one_line(provenance[k])) for k in keys if k in provenance]


def provenance_comment_lines(provenance: Mapping[str, Any], prefix: str = "# ") -> list[str]:
    """Header comment lines for text tables ("# cuewatch_version: 0.1.0", ...)."""
    return [f"{prefix}{k}: {v}" for k, v in provenance_items(provenance)]


def provenance_summary(provenance: Mapping[str, Any]) -> str:
    """One line for a single cell (BORIS's observation description)."""
    return "; ".join(f"{k}={v}" for k, v in provenance_items(provenance))
