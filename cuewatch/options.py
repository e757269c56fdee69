"""Every analysis option, with its default, declared once (after Picard's option registry).

The command line, the app and the project store read defaults from here; a settings
object is plain data, hashable into the features cache key and written into provenance.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional, TypeVar

from cuewatch.errors import CuewatchError, StoredSettingsWarning


@dataclass(frozen=True)
class ValidRange:
    """The values a numeric option may take; declared once, beside the option's default.

    Every place that reads a number from a user (the command line's ``type=`` functions)
    checks it with ``contains``, so ``nan``, infinities and out-of-range values get one
    clear line instead of a traceback or a silent "no flags".
    """

    low: float
    high: float = math.inf
    #: the low end itself is not allowed (``fps`` must be above 0, not 0).
    low_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        low = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
        return f"{kind} {low}" + (f" and at most {self.high:g}" if math.isfinite(self.high) else "")

    def contains(self, value: float) -> bool:
        return (math.isfinite(value) and (value > self.low if self.low_open else value >= self.low)
                and value <= self.high and (not self.integer or float(value).is_integer()))


def _ranged(default: Any, valid: ValidRange) -> Any:
    return field(default=default, metadata={"range": valid})


def valid_range(settings_class: type, name: str) -> ValidRange:
    """The declared range of one numeric field of ``AnalysisSettings`` or ``FlagSettings``."""
    found = {f.name: f for f in dataclasses.fields(settings_class)}[name].metadata.get("range")
    if found is None:
        raise KeyError(f"{settings_class.__name__}.{name} declares no range")
    return found


@dataclass(frozen=True)
class AnalysisSettings:
    """What the face pass does. Changing any field changes the features cache key."""

    #: analysed frames per second of video (evenly spaced); None with ``every`` unset = all.
    fps: Optional[float] = _ranged(15.0, ValidRange(0.0, 1000.0, low_open=True))
    #: analyse every Nth decoded frame instead of ``fps``.
    every: Optional[int] = _ranged(None, ValidRange(1, integer=True))
    #: smallest face to find, as a fraction of the frame height.
    min_face_fraction: float = _ranged(1.0 / 8.0, ValidRange(0.0, 1.0, low_open=True))
    #: seconds between full-frame searches for new faces while tracks are alive.
    search_interval_s: float = _ranged(2.0, ValidRange(0.0, low_open=True))
    #: most faces tracked at once.
    max_faces: int = _ranged(4, ValidRange(1, integer=True))
    #: landmarker presence threshold below which a tracked face counts as lost.
    min_presence: float = _ranged(0.5, ValidRange(0.0, 1.0))
    #: what runs the face models: "litert" (the bundle's models run directly, faster; the
    #: default) or "mediapipe" (the tasks API, the reference); ``cuewatch.faces.engines``.
    #: Both give the same flags on shared/eval (``tests/test_engines.py``).
    engine: str = "litert"

    def sampling_label(self) -> str:
        if self.every:
            return f"every {self.every}"
        if self.fps is None:
            return "all frames"
        return f"{self.fps:g} fps"

    #: stored field names of earlier cuewatch versions -> today's (``from_stored``).
    RENAMED: ClassVar[Mapping[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> AnalysisSettings:
        """Settings as a project stored them (``to_dict``), by any cuewatch version: stored
        data stays readable, unlike user input (see ``_from_stored``)."""
        return _from_stored(cls, stored)

    def cache_token(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


SENSITIVITIES: tuple[str, ...] = ("low", "medium", "high")

#: parallel processes (``--jobs``).
JOBS_RANGE = ValidRange(1, 256, integer=True)
#: the ends of a span of the recording (``--neutral START:END``), seconds.
SPAN_SECONDS_RANGE = ValidRange(0.0, 24 * 3600.0)


@dataclass(frozen=True)
class FlagSettings:
    """How incongruence flags are cut from the expression and stated-mood series.

    Recomputing flags with other FlagSettings reuses stored features (no face pass).
    """

    sensitivity: str = "medium"
    #: shortest incongruence flag, seconds.
    min_duration_s: Optional[float] = _ranged(None, ValidRange(0.0, 3600.0))
    #: gaps shorter than this between two flag pieces merge, seconds.
    merge_gap_s: Optional[float] = _ranged(None, ValidRange(0.0, 3600.0))
    #: how far the expressed valence (-1..1) must sit on the other side of zero.
    valence_threshold: Optional[float] = _ranged(None, ValidRange(0.0, 1.0))
    #: below this per-frame confidence (0..1) the face counts as not reliably seen.
    min_confidence: Optional[float] = _ranged(None, ValidRange(0.0, 1.0))
    #: further thresholds by name (fields of ``cuewatch.flags.incongruence.Thresholds``);
    #: an unknown name is an error when the thresholds are made, never ignored.
    extra: dict[str, float] = field(default_factory=dict)

    #: stored field names of earlier cuewatch versions -> today's (``from_stored``).
    RENAMED: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        if self.sensitivity not in SENSITIVITIES:
            raise CuewatchError(f"unknown sensitivity {self.sensitivity!r} "
                                f"(choose {', '.join(SENSITIVITIES)})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> FlagSettings:
        """Settings as a project stored them (``to_dict``), by any cuewatch version: stored
        data stays readable, unlike user input (see ``_from_stored``)."""
        return _from_stored(cls, stored)


_Stored = TypeVar("_Stored", AnalysisSettings, FlagSettings)


def _from_stored(cls: type[_Stored], stored: Mapping[str, Any]) -> _Stored:
    """A settings dataclass from a stored dict: a field renamed since is read under its
    new name (``cls.RENAMED``; the new name wins if both are stored); a field this
    cuewatch does not know is dropped with a ``StoredSettingsWarning``, never a TypeError.
    Values are taken as stored (they were checked when the user gave them)."""
    names = {f.name for f in dataclasses.fields(cls)}
    kept: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in stored.items():
        new = cls.RENAMED.get(key)
        if new is not None and new in names:
            kept.setdefault(new, value)
        elif key in names:
            kept[key] = value
        else:
            unknown.append(str(key))
    if unknown:
        warnings.warn(StoredSettingsWarning(
            f"stored {cls.__name__} has fields this cuewatch does not know, ignored: "
            f"{', '.join(sorted(unknown))}"), stacklevel=3)
    if cls is FlagSettings and kept.get("sensitivity", FlagSettings.sensitivity) not in SENSITIVITIES:
        warnings.warn(StoredSettingsWarning(
            f"stored sensitivity {kept['sensitivity']!r} is unknown to this cuewatch; read as "
            f"{FlagSettings.sensitivity!r}"), stacklevel=3)
        kept["sensitivity"] = FlagSettings.sensitivity
    return cls(**kept)
