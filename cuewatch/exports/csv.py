"""``cuewatch export --format csv``: flags with verdicts, notes and evidence, as tables.

Per recording, two plain CSV files (the header is the first line: ``pandas.read_csv``,
``csv.DictReader`` and spreadsheets read them as they are), each with its provenance in
a sidecar ``<file>.provenance.json`` (``cuewatch.formats.PROVENANCE_SIDECAR_SUFFIX``):

- ``LABEL.flags.csv``: one row per flag, ``FLAGS_EXPORT_COLUMNS``: the recording, the
  cells of ``cuewatch analyze``'s flags.csv (``cuewatch.outputs.flags_files.flag_csv_row``), the
  full evidence as JSON and the current verdict of every reviewer (``verdicts``/``notes``).
  Verdicts on a flag a recompute no longer raises follow as rows with ``raised=0``
  (orphaned verdicts, kept with their moment). The last columns are the trainee's
  response to the flag and the mirroring (``formats.FLAGS_EXPORT_RESPONSE_COLUMNS``).
- ``LABEL.reviews.csv``: one row per verdict ever given (``REVIEWS_EXPORT_COLUMNS``),
  earlier ones marked ``current=0``, orphaned ones ``flag_raised=0``: agreement
  statistics are computed from the raised flags' current verdicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from cuewatch.domain import Flag
from cuewatch.exports import ExportBundle, per_recording
from cuewatch.exports.describe import response_record
from cuewatch.exports.naming import path_in
from cuewatch.exports.tables import json_cell, number_cell, render_table, text_cell
from cuewatch.files import write_text_atomic
from cuewatch.formats import FLAGS_CSV_COLUMNS, FLAGS_EXPORT_RESPONSE_COLUMNS, FLAGS_EXPORT_RESPONSE_KEYS
from cuewatch.outputs.flags_files import flag_csv_row
from cuewatch.progress import Progress
from cuewatch.provenance import write_provenance_sidecar

FLAGS_EXPORT_CSV_VERSION = 2
#: flags.csv's columns (``cuewatch.formats.FLAGS_CSV_COLUMNS``) plus review columns, then
#: the trainee's response and the mirroring (``formats.FLAGS_EXPORT_RESPONSE_COLUMNS``, v2;
#: empty for an orphaned flag or a recording without attunement).
FLAGS_EXPORT_COLUMNS: tuple[str, ...] = ("recording",) + FLAGS_CSV_COLUMNS + (
    "utterance_start", "utterance_end", "evidence", "n_reviewers", "n_agree",
    "n_disagree", "n_unsure", "verdicts", "notes", "raised",
) + FLAGS_EXPORT_RESPONSE_COLUMNS
REVIEWS_EXPORT_COLUMNS: tuple[str, ...] = (
    "recording", "flag_id", "flag_start", "flag_end", "flag_type", "reviewer", "verdict",
    "note", "time", "current", "flag_raised",
)


def _keyed_flags(bundle: ExportBundle) -> list[tuple[str, Flag]]:
    """The raised flags with their export keys, then the orphaned verdicts' flags."""
    return ([(bundle.flag_key(i), f) for i, f in enumerate(bundle.flags)]
            + [(str(f.id), f) for f in bundle.orphaned])


def _flag_rows(bundle: ExportBundle, label: str) -> list[list[str]]:
    rows = []
    for i, (key, flag) in enumerate(_keyed_flags(bundle)):
        current = bundle.current_reviews(flag)
        verdicts = "; ".join(f"{r.reviewer}={r.verdict}" for r in current)
        notes = "; ".join(f"{r.reviewer}: {' '.join(r.note.split())}" for r in current if r.note)
        base = flag_csv_row(flag, i + 1)  # the same cells as cuewatch analyze's flags.csv
        base[0] = key
        rows.append([text_cell(label)] + [text_cell(c) if isinstance(c, str) else number_cell(c)
                                           for c in base] + [
            number_cell(flag.evidence.get("utterance_start")),
            number_cell(flag.evidence.get("utterance_end")), json_cell(flag.evidence),
            str(len(current)),
            str(sum(r.verdict == "agree" for r in current)),
            str(sum(r.verdict == "disagree" for r in current)),
            str(sum(r.verdict == "unsure" for r in current)),
            text_cell(verdicts), text_cell(notes), "1" if flag.raised else "0",
        ] + _response_cells(bundle, flag))
    return rows


def _response_cells(bundle: ExportBundle, flag: Flag) -> list[str]:
    record = response_record(bundle.response(flag))
    if record is None:
        return [""] * len(FLAGS_EXPORT_RESPONSE_COLUMNS)
    return [text_cell(v) if isinstance(v, str) else number_cell(v)
            for v in (record[k] for k in FLAGS_EXPORT_RESPONSE_KEYS)]


def _review_rows(bundle: ExportBundle, label: str) -> list[list[str]]:
    rows = []
    for key, flag in _keyed_flags(bundle):
        current = {id(r) for r in bundle.current_reviews(flag)}
        history = bundle.review_history(flag) + bundle.current_reviews(flag)
        for r in sorted(history, key=lambda r: (r.reviewer, r.time or "", id(r) in current)):
            rows.append([
                text_cell(label), text_cell(key), number_cell(flag.start),
                number_cell(flag.end), text_cell(flag.type), text_cell(r.reviewer),
                text_cell(r.verdict), text_cell(r.note), text_cell(r.time),
                "1" if id(r) in current else "0", "1" if flag.raised else "0",
            ])
    return rows


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None) -> list[Path]:
    """Write ``LABEL.flags.csv`` and ``LABEL.reviews.csv`` per recording, each with its
    provenance sidecar."""

    def write_one(bundle: ExportBundle, label: str, out_dir: Path) -> list[Path]:
        written = []
        for kind, columns, rows in (
                ("flags", FLAGS_EXPORT_COLUMNS, _flag_rows(bundle, label)),
                ("reviews", REVIEWS_EXPORT_COLUMNS, _review_rows(bundle, label))):
            target = path_in(out_dir, f"{label}.{kind}.csv")
            written.append(write_text_atomic(target, render_table(columns, rows)))
            written.append(write_provenance_sidecar(
                target, bundle.provenance,
                description=f"cuewatch {kind} export v{FLAGS_EXPORT_CSV_VERSION}: {label}"))
        return written
    return per_recording("csv", bundles, out_dir, anonymise, progress, write_one)
