"""The trainee's response to a flagged moment: what the therapist said next, and its kind.

A flag marks a moment the client showed something their words did not say. Attunement is
what the trainee did with it (Gottman's bids: turning toward or away). This module finds
the therapist's words after the flag and reads them with explainable rules
(``cuewatch.words.response_rules``, the one place they live; the feeling vocabulary is
stated mood's): **named** (a reflection of the feeling or the face), **explored** (an open
question about the client's experience), **validated**, **moved on** (content, advice, a new
topic, reassurance that turns away), or **none** (no therapist words in the window, or only
"mm-hmm").

The window: the therapist's turns that start at or after the flag's start and no later than
``RESPONSE_WINDOW_S`` after its end, at most ``RESPONSE_MAX_TURNS`` of them. Ten seconds
is about two exchanges of ordinary talk (turn transitions run 0.2-1 s, a client's next
sentence a few seconds); a reply later than that, or after two therapist turns, answers
something else. A turn is the therapist's consecutive segments with no client words
between. The client going on is not a response, but a therapist turn after it inside the
window still is. Latency is from the flag's end to the start of the turn that decided
the kind (0 when the therapist spoke during the flagged stretch).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Optional

from cuewatch.domain import MoodSegment, is_client_speaker, speaker_key
from cuewatch.errors import CuewatchError
from cuewatch.words import response_rules as rules
from cuewatch.words.stated_mood import VOCABULARY

#: Seconds after the flag's end within which a therapist turn must start to count.
RESPONSE_WINDOW_S = 10.0
#: At most this many therapist turns in the window are read.
RESPONSE_MAX_TURNS = 2

RESPONSE_KINDS = rules.RESPONSE_KINDS


@dataclass(frozen=True)
class Reading:
    """The kind of one stretch of therapist words, with the sentence and rule that decided it."""

    kind: str
    #: the words that decided it ("" when there were none).
    evidence: str = ""
    #: the rule's name in ``response_rules`` ("validated:makes_sense", "none:backchannel").
    rule: str = ""


@dataclass
class TherapistTurn:
    """The therapist's consecutive words, uninterrupted by the client."""

    start: float
    end: float
    text: str


@dataclass
class FlagResponse:
    """What the trainee did after one flagged moment."""

    kind: str
    evidence: str
    #: seconds from the flag's end to the deciding turn; None when kind is "none" for
    #: want of any therapist turn in the window.
    latency: Optional[float]
    rule: str
    turns: list[TherapistTurn] = field(default_factory=list)
    #: the start of the turn that decided the kind (where a reviewer jumps to hear it);
    #: None when no turn did.
    turn_start: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- reading words
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
_SENTENCE_RE = re.compile(r"(?<=[.!?;])\s+|\n+")


def _straighten(text: str) -> str:
    """Curly quotes straightened and spacing collapsed; case kept (the evidence is quoted)."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _compiled() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """The rule table's patterns, compiled once."""
    def group(table: dict[str, str]) -> list[tuple[str, re.Pattern[str]]]:
        return [(name, re.compile(p)) for name, p in table.items()]
    return {
        "dismissal": group(rules.DISMISSALS),
        "validated": group(rules.VALIDATIONS),
        "stem": group(rules.REFLECTION_STEMS),
        "cue": group(rules.CUE_REMARKS),
        "invitation": group(rules.INVITATIONS),
        "open": [("open_question", re.compile(rules.OPEN_QUESTION))],
        "closed": [("closed_question", re.compile(rules.CLOSED_QUESTION))],
        "experience": [("experience", re.compile(rules.EXPERIENCE_TERMS))],
    }


@lru_cache(maxsize=1)
def _feelings() -> tuple[dict[tuple[str, ...], float], int]:
    """Feeling words and phrases with their valence: stated mood's lexicon, less the words
    that are not feelings in a listener's sentence, plus the listener's own words."""
    words: dict[tuple[str, ...], float] = {}
    for phrase, (valence, category) in VOCABULARY.items():
        if category != "neutral":
            words[phrase] = valence
    for word in rules.LISTENER_FEELINGS:
        words.setdefault(tuple(word.split()), VOCABULARY.get((word,), (-0.5, ""))[0])
    return words, max(len(k) for k in words)


def _first(patterns: list[tuple[str, re.Pattern[str]]], sentence: str) -> Optional[tuple[str, re.Match[str]]]:
    for name, pattern in patterns:
        m = pattern.search(sentence)
        if m is not None:
            return name, m
    return None


def _feeling_hits(tokens: Sequence[str]) -> list[tuple[int, float, bool, str]]:
    """(position, valence, negated, phrase) of every feeling word, longest phrases first."""
    words, longest = _feelings()
    hits: list[tuple[int, float, bool, str]] = []
    i = 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            phrase = tuple(tokens[i:i + n])
            if phrase in words:
                name = " ".join(phrase)
                felt = any(t in rules.FEEL_VERBS for t in tokens[max(0, i - rules.FEEL_VERB_REACH):i])
                if name in rules.NOT_FEELINGS and not felt:
                    continue  # "down the road", "love to": a feeling only after "feel", "seem"...
                before = tokens[max(0, i - rules.NEGATION_REACH):i]
                negated = any(t in rules.NEGATORS or t.endswith("n't") for t in before)
                hits.append((i, words[phrase], negated, name))
                i += n - 1
                break
        i += 1
    return hits


def _reflection(sentence: str, tokens: Sequence[str]) -> Optional[str]:
    """'named', 'dismissal' (a negated negative feeling: "you're not really sad") or None."""
    starts = [m.start() for _, p in _compiled()["stem"] for m in [p.search(sentence)] if m is not None]
    if not starts:
        return None
    stem_token = len(_TOKEN_RE.findall(sentence[:min(starts)]))  # the earliest stem of any rule
    for pos, valence, negated, phrase in _feeling_hits(tokens):
        if pos < stem_token:
            continue
        if negated:
            return "dismissal" if valence < 0 else "named"
        if phrase in rules.ONLY_NEGATED:
            continue
        return "named"
    return None


def _sentence_reading(words: str) -> Optional[Reading]:
    """The kind one sentence shows (its words, as said, are the evidence), or None for content."""
    compiled = _compiled()
    sentence = words.lower()
    tokens = _TOKEN_RE.findall(sentence)
    hit = _first(compiled["dismissal"], sentence)
    if hit is not None:
        return Reading("moved_on", words, f"moved_on:{hit[0]}")
    hit = _first(compiled["validated"], sentence)
    if hit is not None:
        return Reading("validated", words, f"validated:{hit[0]}")
    hit = _first(compiled["cue"], sentence)
    if hit is not None:
        return Reading("named", words, f"named:{hit[0]}")
    reflected = _reflection(sentence, tokens)
    if reflected == "dismissal":
        return Reading("moved_on", words, "moved_on:negated_feeling")
    if reflected == "named":
        return Reading("named", words, "named:reflection")
    hit = _first(compiled["invitation"], sentence)
    if hit is not None:
        return Reading("explored", words, f"explored:{hit[0]}")
    if _first(compiled["open"], sentence) and not _first(compiled["closed"], sentence):
        feelings = [h for h in _feeling_hits(tokens) if h[3] not in rules.ONLY_NEGATED or h[2]]
        if _first(compiled["experience"], sentence) or feelings:
            return Reading("explored", words, "explored:open_question")
    return None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.split(text) if s.strip()]


@lru_cache(maxsize=4096)
def read_response(text: str) -> Reading:
    """The response kind of a therapist's words (the rules and their order:
    ``cuewatch.words.response_rules``). A pure function of the text, cached: a recompute
    reads the same turns again."""
    norm = _straighten(text)
    tokens = _TOKEN_RE.findall(norm.lower())
    if not tokens:
        return Reading("none", "", "none:no_words")
    if all(t in rules.BACKCHANNELS for t in tokens):
        return Reading("none", norm, "none:backchannel")
    readings = [r for r in (_sentence_reading(s) for s in _sentences(norm)) if r is not None]
    dismissal = next((r for r in readings if r.kind == "moved_on"), None)
    if dismissal is not None:
        return dismissal
    for kind in RESPONSE_KINDS:
        for r in readings:
            if r.kind == kind:
                return r
    return Reading("moved_on", _sentences(norm)[0], "moved_on:content")


# --------------------------------------------------------------------------- the window
def therapist_turns(
    start: float,
    end: float,
    segments: Sequence[MoodSegment],
    client_speaker: Optional[str],
    *,
    therapist_speaker: Optional[str] = None,
    window_s: float = RESPONSE_WINDOW_S,
    max_turns: int = RESPONSE_MAX_TURNS,
) -> list[TherapistTurn]:
    """The therapist's turns that answer a flag spanning ``start``-``end`` (see the module doc).

    The therapist is ``therapist_speaker`` when given, else every labelled speaker who is not
    the client. Raises CuewatchError when the client speaker is unknown (every line would
    be the client's) or the span is not a span.
    """
    if client_speaker is None:
        raise CuewatchError("the client speaker must be known to find the therapist's response")
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise CuewatchError(f"a flag must span start <= end in seconds, not {start}-{end}")
    if not (math.isfinite(window_s) and window_s >= 0) or max_turns < 1:
        raise CuewatchError("the response window needs seconds >= 0 and at least one turn")

    def therapists(seg: MoodSegment) -> bool:
        if seg.speaker is None or is_client_speaker(seg.speaker, client_speaker):
            return False
        return therapist_speaker is None or speaker_key(seg.speaker) == speaker_key(therapist_speaker)

    turns: list[TherapistTurn] = []
    joining = False  # the last counted segment was the therapist's, with no client since
    for seg in sorted(segments, key=lambda s: (s.start, s.end)):
        if seg.start < start:
            continue
        if seg.start > end + window_s:
            break
        if is_client_speaker(seg.speaker, client_speaker):
            joining = False
            continue
        if not therapists(seg):
            continue
        if joining and turns:
            last = turns[-1]
            last.end = max(last.end, seg.end)
            last.text = f"{last.text} {seg.text.strip()}".strip()
            continue
        if len(turns) == max_turns:
            break
        turns.append(TherapistTurn(seg.start, seg.end, seg.text.strip()))
        joining = True
    return turns


def respond_to_flag(
    start: float,
    end: float,
    segments: Sequence[MoodSegment],
    client_speaker: Optional[str],
    *,
    therapist_speaker: Optional[str] = None,
    window_s: float = RESPONSE_WINDOW_S,
    max_turns: int = RESPONSE_MAX_TURNS,
) -> FlagResponse:
    """The trainee's response to the flag spanning ``start``-``end``: its kind, evidence
    and latency. Over several turns the strongest turn toward the moment wins (kinds in
    ``RESPONSE_KINDS`` order); a dismissal in the first turn that says anything decides."""
    turns = therapist_turns(start, end, segments, client_speaker, therapist_speaker=therapist_speaker,
                            window_s=window_s, max_turns=max_turns)
    if not turns:
        return FlagResponse("none", "", None, "none:no_turn", [])
    readings = [(turn, read_response(turn.text)) for turn in turns]
    spoken = [(t, r) for t, r in readings if r.kind != "none"]
    if not spoken:
        turn, reading = readings[0]
        return FlagResponse("none", reading.evidence, None, reading.rule, turns)
    first_turn, first = spoken[0]
    chosen = (first_turn, first)
    if first.rule == "moved_on:content" or first.kind != "moved_on":
        for kind in RESPONSE_KINDS:
            match = next(((t, r) for t, r in spoken if r.kind == kind), None)
            if match is not None:
                chosen = match
                break
    turn, reading = chosen
    latency = round(max(0.0, turn.start - end), 2)
    return FlagResponse(reading.kind, reading.evidence, latency, reading.rule, turns, turn.start)
