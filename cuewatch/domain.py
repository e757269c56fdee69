"""Plain dataclasses for the things users talk about.

No behaviour beyond (de)serialisation: the stages that make and use them live in their
own modules. Times are seconds from the start of the recording.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union


def stored_id(record: Union[Recording, Flag, Review, Annotation]) -> int:
    """The id of a record read from a project: None only before it is stored."""
    if record.id is None:
        raise ValueError(f"this {type(record).__name__.lower()} is not stored in a project")
    return int(record.id)


@dataclass
class Recording:
    """A video file as the project knows it."""

    path: str
    sha256: str
    duration: float = 0.0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    id: Optional[int] = None


@dataclass
class TrackSummary:
    """What one face track covers (time, share of frames, mean box): a track is one person's
    face through the recording, and its id is stable for the whole recording."""

    track_id: int
    start: float
    end: float
    n_frames: int
    coverage: float
    mean_bbox: tuple[float, float, float, float]

    @property
    def mean_center_x(self) -> float:
        return (self.mean_bbox[0] + self.mean_bbox[2]) / 2.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean_bbox"] = [round(v, 1) for v in self.mean_bbox]
        return d


@dataclass
class MoodSegment:
    """A stretch where a speaker states a mood: an utterance or a row of a mood file."""

    start: float
    end: float
    speaker: Optional[str] = None
    text: str = ""
    #: stated valence in [-1, 1]; None when the words state no mood.
    valence: Optional[float] = None
    #: a mood word such as "happy", "sad", "anxious", "calm", "neutral"; None if none.
    category: Optional[str] = None
    #: how sure the reading of the words is, 0..1 (hedges lower it).
    certainty: float = 1.0
    #: source line (1-based) in the transcript or mood file, for messages.
    line: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def is_clients(self, client_speaker: Optional[str]) -> bool:
        """Whether the client said this (see ``is_client_speaker``)."""
        return is_client_speaker(self.speaker, client_speaker)


@functools.lru_cache(maxsize=1024)
def speaker_key(name: str) -> str:
    """A speaker label as compared: case and spacing do not matter ("client " is "Client").
    Cached: a transcript has few speakers and every flag's response window compares them."""
    return " ".join(name.split()).casefold()


def is_client_speaker(speaker: Optional[str], client_speaker: Optional[str]) -> bool:
    """The one rule for whose words a transcript line is.

    With no client speaker (a transcript or mood file without speaker labels) every line
    is the client's; otherwise a line is the client's when its label matches, ignoring case
    and spacing, and an unlabelled line is nobody's (it is not counted as the client's).
    """
    if client_speaker is None:
        return True
    return speaker is not None and speaker_key(speaker) == speaker_key(client_speaker)


@dataclass
class Gap:
    """A span where the client's face was not reliably seen: no verdict there."""

    start: float
    end: float
    track: Optional[int]
    reason: str = "face not visible"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Flag:
    """A moment where stated mood and facial expression disagree."""

    start: float
    end: float
    type: str  # "incongruence" or "leak"
    track: Optional[int]
    stated: dict[str, Any]
    expressed: dict[str, Any]
    severity: float
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)
    id: Optional[int] = None
    #: False for a flag a recompute no longer raises, kept in a project only for the
    #: verdicts on its moment (an orphaned verdict, ``cuewatch.flags.matching``).
    raised: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Flag:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


VERDICTS: tuple[str, ...] = ("agree", "disagree", "unsure")


@dataclass
class Review:
    """One reviewer's verdict on one flag."""

    flag_id: int
    reviewer: str
    verdict: str
    note: str = ""
    time: str = ""
    id: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Annotation:
    """A span a reviewer marked by hand, with a label: often a moment the tool missed."""

    recording_id: Optional[int]
    start: float
    end: float
    label: str
    note: str = ""
    reviewer: str = ""
    created: str = ""
    id: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_any(cls, value: Union[Annotation, Mapping[str, Any]]) -> Annotation:
        """An Annotation from itself or a mapping with at least start, end and label."""
        from cuewatch.errors import CuewatchError

        if isinstance(value, Annotation):
            return value
        if isinstance(value, Mapping):
            names = {f.name for f in dataclasses.fields(cls)}
            data = {k: v for k, v in value.items() if k in names}
            data.setdefault("recording_id", None)
            try:
                return cls(**data)
            except TypeError as exc:
                raise CuewatchError(f"manual annotation is missing a field: {exc}") from None
        raise CuewatchError(f"not a manual annotation: {value!r}")
