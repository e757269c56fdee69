"""Provenance: what produced a file, so any export can be traced and reproduced."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from cuewatch import __version__


def provenance(model_sha256: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "cuewatch_version": __version__,
        "model_sha256": model_sha256,
        "parameters": parameters,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
