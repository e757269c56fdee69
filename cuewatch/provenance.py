"""Provenance: what produced a file, so any export can be traced and reproduced.

Provenance as every export carries it: checked once, rendered per format.

The caller passes the dict made by ``provenance`` (cuewatch version,
model SHA-256, parameters, the rules: face-pass and expression revisions, rules hash and
neutral span, see ``cuewatch.rules``; created). An export without it could not be traced back to
the model and settings that produced its flags, so a missing key is refused.

CSV files carry theirs in a sidecar, ``<file><PROVENANCE_SIDECAR_SUFFIX>``
(``write_provenance_sidecar``), so the CSV itself stays plain.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from cuewatch import __version__
from cuewatch.errors import CuewatchError
from cuewatch.formats import PROVENANCE_SIDECAR_FORMAT, PROVENANCE_SIDECAR_SUFFIX, PROVENANCE_SIDECAR_VERSION
from cuewatch.rules import rules_provenance

PROVENANCE_KEYS: tuple[str, ...] = ("cuewatch_version", "model_sha256", "parameters", "rules",
                                    "created")


def provenance(model_sha256: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    """Provenance of a result made with ``parameters`` (their ``neutral_span``, if any, is
    the neutral span used) under the current rules."""
    return {
        "cuewatch_version": __version__,
        "model_sha256": model_sha256,
        "parameters": parameters,
        "rules": rules_provenance(parameters.get("neutral_span")),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


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
    """(key, one-line value) pairs, the known keys first, then any extra ones."""
    keys = list(PROVENANCE_KEYS) + sorted(k for k in provenance if k not in PROVENANCE_KEYS)
    return [(str(k), _one_line(provenance[k])) for k in keys if k in provenance]


def provenance_summary(provenance: Mapping[str, Any]) -> str:
    """One line for a single cell (BORIS's observation description)."""
    return "; ".join(f"{k}={v}" for k, v in provenance_items(provenance))


def sidecar_path(table: Path) -> Path:
    """Where the provenance of ``table`` lives: ``flags.csv`` -> ``flags.csv.provenance.json``."""
    table = Path(table)
    return table.with_name(table.name + PROVENANCE_SIDECAR_SUFFIX)


def provenance_sidecar_document(table: Path, provenance: Mapping[str, Any], *,
                                description: str = "",
                                about: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The sidecar's JSON: which file it describes, what it is, its provenance, and any
    facts a reader needs about its columns (``about``)."""
    doc: dict[str, Any] = {"format": PROVENANCE_SIDECAR_FORMAT,
                           "version": PROVENANCE_SIDECAR_VERSION,
                           "file": Path(table).name, "description": description,
                           "provenance": dict(provenance)}
    doc.update(about or {})
    return doc


def write_provenance_sidecar(table: Path, provenance: Mapping[str, Any], *,
                             description: str = "",
                             about: Optional[Mapping[str, Any]] = None) -> Path:
    """Write the provenance of the plain CSV ``table`` beside it (atomically); returns it."""
    from cuewatch.files import write_text_atomic

    doc = provenance_sidecar_document(table, provenance, description=description, about=about)
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    return write_text_atomic(sidecar_path(table), text)
