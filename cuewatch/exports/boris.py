"""``cuewatch export --format boris``: an aggregated events table for BORIS users.

BORIS (Behavioral Observation Research Interactive Software) exports, and its users'
scripts read, "aggregated events": one row per state event with start, stop and
duration. ``BORIS_COLUMNS`` follows BORIS 8's aggregated export column for column
(one observation per recording; behaviours are state events), with two modifier
columns and a final ``Comment`` (the issue's minimum: Subject, Behavior, Start (s),
Stop (s), Duration (s), Comment). Written twice, as ``cuewatch_events.tsv`` and
``cuewatch_events.csv``, all recordings in one table. No comment lines (BORIS and its
readers take the first line as the header): the provenance is in each row's
``Description``, as BORIS keeps an observation's description.

Rows, per recording: the client's stated moods (behaviour "stated mood", modifier the
mood), the client's expression spans ("expression"), each flag ("incongruence" /
"leak", modifiers stated and expressed; comment: summary and current verdicts), gaps
("face not seen"), other speakers' utterances ("utterance") and manual annotations
(behaviour = the annotation's label, category "manual annotation").
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from cuewatch.exports import ExportBundle, prepare, unique_labels
from cuewatch.exports.describe import flag_summary, mood_text, segment_mood_text, verdict_text
from cuewatch.exports.naming import path_in
from cuewatch.exports.tables import number_cell, render_table, text_cell
from cuewatch.files import write_text_atomic
from cuewatch.formats import CLIENT_FLAG_TYPES
from cuewatch.progress import Progress
from cuewatch.provenance import provenance_summary

BORIS_COLUMNS: tuple[str, ...] = (
    "Observation id", "Observation date", "Description", "Observation type", "Source",
    "Time offset (s)", "Coding duration", "Media duration (s)", "FPS (frame/s)", "Subject",
    "Observation duration by subject by observation", "Behavior", "Behavioral category",
    "Modifier #1", "Modifier #2", "Behavior type", "Start (s)", "Stop (s)", "Duration (s)",
    "Media file name", "Image index start", "Image index stop", "Image file path start",
    "Image file path stop", "Comment start", "Comment stop", "Comment",
)
BORIS_FILE_STEM = "cuewatch_events"

CATEGORY_STATED = "stated mood"
CATEGORY_EXPRESSION = "expression (prototype match)"
CATEGORY_FLAG = "cuewatch flag"
CATEGORY_GAP = "not analysable"
CATEGORY_SPEECH = "speech"
CATEGORY_ANNOTATION = "manual annotation"


def _events(bundle: ExportBundle, anonymise: bool) -> list[tuple]:
    """(subject, behaviour, category, mod1, mod2, start, stop, comment) per event."""
    client = bundle.speaker_label(bundle.client_speaker, anonymise) if bundle.client_speaker else "client"
    events = []
    for seg in bundle.segments:
        if bundle.is_client(seg):
            if seg.category or seg.valence is not None:
                events.append((client, "stated mood", CATEGORY_STATED, seg.category or "",
                               number_cell(seg.valence, 2), seg.start, seg.end,
                               f"{segment_mood_text(seg)}: {seg.text}"))
        else:
            who = bundle.speaker_label(seg.speaker, anonymise)
            events.append((who, "utterance", CATEGORY_SPEECH, "", "", seg.start, seg.end, seg.text))
    for start, end, category in bundle.expression_spans or []:
        events.append((client, "expression", CATEGORY_EXPRESSION, str(category), "", start, end, ""))
    for i, flag in enumerate(bundle.flags):
        verdicts = "; ".join(f"{r.reviewer} {verdict_text(r)}" for r in bundle.current_reviews(flag))
        comment = f"#{bundle.flag_key(i)} {flag_summary(flag)}"
        if flag.stated.get("words"):
            comment += f'; words: "{flag.stated["words"]}"'
        if verdicts:
            comment += f"; verdicts: {verdicts}"
        whose = (client if flag.type in CLIENT_FLAG_TYPES  # the trainee's own: their subject
                 else bundle.speaker_label(flag.stated.get("speaker"), anonymise))
        events.append((whose, flag.type, CATEGORY_FLAG,
                       "stated " + mood_text(flag.stated.get("category"), flag.stated.get("valence")),
                       "expressed " + mood_text(flag.expressed.get("category"), flag.expressed.get("valence")),
                       flag.start, flag.end, comment))
    for gap in bundle.gaps:
        events.append((client, "face not seen", CATEGORY_GAP, "", "", gap.start, gap.end, gap.reason))
    for ann in bundle.annotations:
        note = f"{ann.note} (by {ann.reviewer})" if ann.reviewer else ann.note
        events.append((client, ann.label, CATEGORY_ANNOTATION, "", "", ann.start, ann.end, note))
    return sorted(events, key=lambda e: (e[5], e[6], e[1]))


def _rows(bundle: ExportBundle, label: str, anonymise: bool) -> list[list[str]]:
    events = _events(bundle, anonymise)
    rec = bundle.recording
    media = label + bundle.media_path.suffix if anonymise else bundle.media_path.name
    coding = max([e[6] for e in events], default=0.0) - min([e[5] for e in events], default=0.0)
    per_subject: dict[str, float] = {}
    for e in events:
        per_subject[e[0]] = per_subject.get(e[0], 0.0) + (e[6] - e[5])
    description = provenance_summary(bundle.provenance)
    date = str(bundle.provenance.get("created", "")).replace("T", " ")[:19]
    rows = []
    for subject, behaviour, category, mod1, mod2, start, stop, comment in events:
        rows.append([
            text_cell(label), text_cell(date), text_cell(description), "Media file",
            text_cell(f"player #1:{media}"), "0", number_cell(coding, 3),
            number_cell(rec.duration, 3) if rec.duration else "NA",
            number_cell(rec.fps, 3) if rec.fps else "NA", text_cell(subject),
            number_cell(per_subject[subject], 3), text_cell(behaviour), text_cell(category),
            text_cell(mod1), text_cell(mod2), "STATE", number_cell(start, 3),
            number_cell(stop, 3), number_cell(max(0.0, stop - start), 3), text_cell(media),
            "NA", "NA", "NA", "NA", text_cell(comment), "", text_cell(comment),
        ])
    return rows


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None) -> list[Path]:
    """Write ``cuewatch_events.tsv`` and ``cuewatch_events.csv`` for all recordings."""
    bundles, out_dir, progress = prepare(bundles, out_dir, progress)
    rows: list[list[str]] = []
    for n, (bundle, label) in enumerate(zip(bundles, unique_labels(bundles, anonymise))):
        progress.check()
        rows.extend(_rows(bundle, label, anonymise))
        progress.report((n + 1) / (len(bundles) + 1), f"boris: {label}")
    written = []
    for delimiter, suffix in (("\t", ".tsv"), (",", ".csv")):
        text = render_table(BORIS_COLUMNS, rows, delimiter=delimiter)
        written.append(write_text_atomic(path_in(out_dir, BORIS_FILE_STEM + suffix), text))
    progress.report(1.0, "boris")
    return written
