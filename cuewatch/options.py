"""Every analysis option, with its default, declared once (after Picard's option registry).

The command line, the app and the project store read defaults from here; a settings
object is plain data, hashable into the features cache key and written into provenance.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class AnalysisSettings:
    """What the face pass does. Changing any field changes the features cache key."""

    #: analysed frames per second of video (evenly spaced); None with ``every`` unset = all.
    fps: Optional[float] = 15.0
    #: analyse every Nth decoded frame instead of ``fps``.
    every: Optional[int] = None
    #: smallest face to find, as a fraction of the frame height.
    min_face_fraction: float = 1.0 / 8.0
    #: seconds between full-frame searches for new faces while tracks are alive.
    search_interval_s: float = 2.0
    #: most faces tracked at once.
    max_faces: int = 4
    #: landmarker presence threshold below which a tracked face counts as lost.
    min_presence: float = 0.5

    def sampling_label(self) -> str:
        if self.every:
            return f"every {self.every}"
        if self.fps is None:
            return "all frames"
        return f"{self.fps:g} fps"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def cache_token(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


SENSITIVITIES: tuple[str, ...] = ("low", "medium", "high")


@dataclass(frozen=True)
class FlagSettings:
    """How incongruence flags are cut from the expression and stated-mood series.

    Recomputing flags with other FlagSettings reuses stored features (no face pass).
    """

    sensitivity: str = "medium"
    #: shortest incongruence flag, seconds.
    min_duration_s: Optional[float] = None
    #: gaps shorter than this between two flag pieces merge, seconds.
    merge_gap_s: Optional[float] = None
    #: how far the expressed valence must sit on the other side of zero.
    valence_threshold: Optional[float] = None
    #: below this per-frame confidence the face counts as not reliably seen.
    min_confidence: Optional[float] = None
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
