"""What ``--anonymise`` takes out of an export, decided in one place (issue 10, section 3).

Every exporter receives bundles that went through ``anonymise_bundles`` first, so no
format can forget a field: an anonymised export holds no name of a person or a file.

- recordings are "R<id>" (their project id): no file name, stem or folder, and the
  project's own file name is left out of the provenance;
- speakers are "client", "therapist" (the therapist the analysis chose: their transcript
  speaker, wherever the attunement names them), else "speaker 2", ...; reviewers are
  "A", "B", ... (the same letter for the same person throughout one export, so agreement
  still reads per reviewer);
- transcript words are kept as transcribed: the utterances, and the therapist's words
  quoted as the evidence of a response kind (the attunement);
- free-text notes (verdict notes, annotation notes) are left out unless
  ``include_notes`` is asked for: people write names in them;
- names in the analysis parameters (the client speaker) become their pseudonyms;
- faces are blurred by the exporters that show images or video, and clips lose their
  sound unless ``keep_audio`` (``cuewatch.exports.clips``).

What was done is recorded in the provenance under ``ANONYMISATION_KEY`` and stated in
the HTML report, so a reader of any output knows what it does and does not hold.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from cuewatch.domain import Flag
from cuewatch.errors import CuewatchError
from cuewatch.formats import THERAPIST_ROLE_LABEL

#: The provenance key that records what anonymising did (a dict of statements).
ANONYMISATION_KEY = "anonymisation"
#: Provenance keys that name a file or a place and are left out when anonymising.
IDENTIFYING_PROVENANCE_KEYS: tuple[str, ...] = ("project",)

#: The statements, by what they are about; ``anonymisation_record`` fills them in.
STATEMENT_RECORDINGS = ("recordings are named R<project id>; file names, folders and the "
                        "project's file name are left out")
STATEMENT_PEOPLE = ("speakers are named by role (client, therapist, speaker 2, ...); reviewers by "
                    "letter (A, B, ...)")
STATEMENT_FACES = "faces are blurred in every exported image and video frame"
STATEMENT_WORDS = ("the transcript's words (the client's, and the therapist's quoted as a response's "
                   "evidence) are kept as transcribed (names said aloud are not removed)")
STATEMENT_NOTES_OUT = "free-text notes of verdicts and annotations are left out"
STATEMENT_NOTES_IN = "free-text notes of verdicts and annotations are included as written (--include-notes)"
STATEMENT_AUDIO_OUT = "clips have no sound: the audio is removed"
STATEMENT_AUDIO_IN = "clips keep the recorded sound (--keep-audio): voices can identify people"


def reviewer_alias(n: int) -> str:
    """The n-th (0-based) reviewer's pseudonym: A..Z, then AA, AB, ..."""
    letters = string.ascii_uppercase
    out = ""
    n += 1
    while n > 0:
        n, r = divmod(n - 1, 26)
        out = letters[r] + out
    return out


def recording_pseudonym(recording_id: Optional[int], sha256: Optional[str]) -> str:
    """ "R<id>"; a recording outside a project (no id) gets a prefix of its hash."""
    if recording_id is not None:
        return f"R{int(recording_id)}"
    return f"R-{(sha256 or 'unknown')[:8]}"


def anonymisation_record(*, include_notes: bool) -> dict[str, str]:
    """What anonymising did, as the provenance records it (clips add "audio")."""
    return {"recordings": STATEMENT_RECORDINGS, "people": STATEMENT_PEOPLE,
            "faces": STATEMENT_FACES, "words": STATEMENT_WORDS,
            "notes": STATEMENT_NOTES_IN if include_notes else STATEMENT_NOTES_OUT}


def audio_statement(keep_audio: bool) -> str:
    return STATEMENT_AUDIO_IN if keep_audio else STATEMENT_AUDIO_OUT


def _people_work(bundle: Any) -> dict[str, list]:
    """The bundle's lists of things people wrote, by field: reviews, annotations, and any
    list whose items have a ``reviewer`` (so a list added later is anonymised too)."""
    out = {}
    for f in dataclasses.fields(bundle):
        value = getattr(bundle, f.name)
        if (f.init and isinstance(value, list) and value
                and all(dataclasses.is_dataclass(v) and hasattr(v, "reviewer") for v in value)):
            out[f.name] = value
    return out


def _reviewer_order(bundles: Sequence[Any]) -> list[str]:
    """Every reviewer, in the order of their first verdict or annotation (then by name)."""
    first: dict[str, str] = {}
    for b in bundles:
        for items in _people_work(b).values():
            for item in items:
                name = item.reviewer
                when = str(getattr(item, "time", "") or getattr(item, "created", "") or "")
                if name and (name not in first or when < first[name]):
                    first[name] = when
        for name in (b.agreement or {}).get("reviewers", []) or []:
            first.setdefault(str(name), "\uffff")
    tool = _tool_name()
    return sorted((n for n in first if n != tool), key=lambda n: (first[n], n))


def _anonymous_work(item: Any, aliases: Mapping[str, str], include_notes: bool) -> Any:
    """A verdict or annotation with its reviewer's pseudonym, and its note unless asked."""
    changes: dict[str, Any] = {"reviewer": aliases.get(item.reviewer, item.reviewer)}
    if hasattr(item, "note") and not include_notes:
        changes["note"] = ""
    return dataclasses.replace(item, **changes)


def _tool_name() -> str:
    from cuewatch.flags.agreement import TOOL

    return TOOL


def _replace_text(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every string that is a known name replaced by its pseudonym, deeply.

    Whole values only: a reviewer called "med" must not turn "medium" into "Aium"."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {k: _replace_text(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_text(v, names) for v in value]
    return value


def _agreement(agreement: Optional[dict], aliases: Mapping[str, str]) -> Optional[dict]:
    if not agreement:
        return agreement
    out = dict(agreement)
    if "reviewers" in out:
        out["reviewers"] = [aliases.get(str(r), r) for r in out["reviewers"] or []]
    pairs = []
    for pair in out.get("pairs") or []:
        pair = dict(pair)
        for side in ("a", "b"):
            if side in pair:
                pair[side] = aliases.get(str(pair[side]), pair[side])
        pairs.append(pair)
    if "pairs" in out:
        out["pairs"] = pairs
    return _replace_text(out, aliases)


def anonymise_bundles(bundles: Iterable[Any], *, include_notes: bool = False) -> list[Any]:
    """Copies of ``bundles`` with every name replaced by a pseudonym (see the module).

    The media path is kept (clips and thumbnails are cut from it); exporters name the
    media by ``recording_label(True)`` when anonymising, never by that path.
    """
    from cuewatch.exports import ExportBundle

    bundles = list(bundles)
    for b in bundles:
        if not isinstance(b, ExportBundle):
            raise CuewatchError(f"export needs ExportBundle objects, got {type(b).__name__}")
    aliases = {name: reviewer_alias(i) for i, name in enumerate(_reviewer_order(bundles))}
    record = anonymisation_record(include_notes=include_notes)
    out = []
    for b in bundles:
        rec = b.recording
        pseudonym = recording_pseudonym(rec.id, rec.sha256)
        suffix = Path(str(rec.path).replace("\\", "/")).suffix if rec.path else ""
        speakers = {s.speaker: b.speaker_label(s.speaker, True) for s in b.segments if s.speaker}
        if b.client_speaker:
            speakers[b.client_speaker] = "client"
        if b.therapist_speaker:
            speakers[b.therapist_speaker] = THERAPIST_ROLE_LABEL
        stems = {}
        if rec.path:
            p = Path(str(rec.path).replace("\\", "/"))
            stems = {str(rec.path): pseudonym + suffix, p.name: pseudonym + suffix, p.stem: pseudonym}
        names = {**stems, **speakers, **aliases}
        provenance = {k: v for k, v in b.provenance.items() if k not in IDENTIFYING_PROVENANCE_KEYS}
        provenance = _replace_text(provenance, names)
        provenance[ANONYMISATION_KEY] = dict(record)
        work = {name: [_anonymous_work(item, aliases, include_notes) for item in items]
                for name, items in _people_work(b).items()}
        segments = [dataclasses.replace(s, speaker=speakers.get(s.speaker, s.speaker))
                    for s in b.segments]
        people = {**stems, **speakers}  # flags say who spoke ("stated": {"speaker": ...})
        def anonymous(flags: Sequence[Flag], people: Mapping[str, str] = people) -> list[Flag]:
            return [dataclasses.replace(f, stated=_replace_text(f.stated, people),
                                        expressed=_replace_text(f.expressed, people),
                                        evidence=_replace_text(f.evidence, people))
                    for f in flags]

        copy = dataclasses.replace(
            b, recording=dataclasses.replace(rec, path=pseudonym + suffix),
            provenance=provenance, segments=segments, flags=anonymous(b.flags),
            orphaned=anonymous(b.orphaned),
            client_speaker="client" if b.client_speaker is not None else None,
            therapist_speaker=THERAPIST_ROLE_LABEL if b.therapist_speaker is not None else None,
            agreement=_agreement(b.agreement, aliases), **work)
        copy._loaded, copy._arrays = b._loaded, b._arrays  # features already loaded stay so
        out.append(copy)
    return out


__all__ = ["ANONYMISATION_KEY", "anonymise_bundles", "anonymisation_record", "audio_statement",
           "recording_pseudonym", "reviewer_alias"]
