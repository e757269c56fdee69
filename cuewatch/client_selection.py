"""Whose words and whose face are the client's.

Only the client's stated mood is compared with the client's face; a therapist's "that
sounds hard" must never be read as the client's mood. This module picks the client's
speaker label in a transcript (``--client-speaker``). Picking the client's face track
(``--client-face auto|left|right|largest|ID``) belongs here too and is added separately.
"""

from __future__ import annotations

from typing import Optional, Sequence

from cuewatch.domain import MoodSegment
from cuewatch.errors import TranscriptError

#: The speaker name used when none is requested (matched case-insensitively).
DEFAULT_CLIENT_NAME = "Client"


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def speakers(segments: Sequence[MoodSegment]) -> list[str]:
    """Speaker names in order of first appearance (unlabelled segments left out)."""
    seen: dict[str, None] = {}
    for seg in segments:
        if seg.speaker:
            seen.setdefault(seg.speaker, None)
    return list(seen)


def choose_client_speaker(segments: Sequence[MoodSegment], requested: Optional[str] = None) -> Optional[str]:
    """The transcript's name for the client, as spelled in the transcript.

    ``requested`` (from --client-speaker) must match a speaker, ignoring case and spacing.
    Without it: a speaker named Client; else a sole speaker "Client <something>"; else the
    only speaker there is. Returns None when no segment has a speaker label (every
    segment is then the client's, as in a mood file without a speaker column). Raises
    TranscriptError listing the speakers when the choice is missing or ambiguous.
    """
    names = speakers(segments)
    listed = ", ".join(names) if names else "none"
    if requested is not None and requested.strip():
        want = _key(requested)
        for name in names:
            if _key(name) == want:
                return name
        if not names:
            raise TranscriptError(
                f"client speaker {requested!r} not found: the transcript has no speaker labels"
            )
        raise TranscriptError(
            f"client speaker {requested!r} not found; speakers in the transcript: {listed}"
        )
    if not names:
        return None
    default = _key(DEFAULT_CLIENT_NAME)
    for name in names:
        if _key(name) == default:
            return name
    prefixed = [n for n in names if _key(n).split(" ")[0] == default]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(names) == 1:
        return names[0]
    raise TranscriptError(
        f"no speaker named {DEFAULT_CLIENT_NAME}; choose one with --client-speaker NAME "
        f"(speakers: {listed})"
    )


def client_segments(segments: Sequence[MoodSegment], speaker: Optional[str]) -> list[MoodSegment]:
    """The segments spoken by the client (all of them when ``speaker`` is None)."""
    if speaker is None:
        return list(segments)
    want = _key(speaker)
    return [s for s in segments if s.speaker is not None and _key(s.speaker) == want]


# --- Client face (--client-face auto|left|right|largest|ID): added here separately. ---
