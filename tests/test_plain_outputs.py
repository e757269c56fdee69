"""Outputs that the users' tools read as they are (issue 10, section 6).

CSV files are plain (``csv.DictReader`` reads the header as its first row; provenance is
in a ``.provenance.json`` sidecar); ``export --format frames`` and ``analyze``'s
frames.csv come from one writer with the same columns; the HTML report reads as a
report (agreement as a table, evidence in words, the disclaimer once); ``cuewatch
review`` prints the notes.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from test_anonymised_exports import NOTE_1, NOTE_2, REVIEWER_1, cuewatch, named_project  # noqa: F401
from test_exports import PROV, face_media, face_tracks, make_bundle, media  # noqa: F401 (fixtures)

from cuewatch import formats
from cuewatch.formats import (
    AU_COLUMNS,
    BLENDSHAPE_NAMES,
    EXPRESSION_COLUMNS,
    FLAGS_CSV_COLUMNS,
    FRAMES_CSV_BASE_COLUMNS,
)

FRAMES_COLUMNS = FRAMES_CSV_BASE_COLUMNS + BLENDSHAPE_NAMES + AU_COLUMNS + EXPRESSION_COLUMNS


def test_provenance_sidecar_suffix_is_pinned() -> None:
    assert formats.PROVENANCE_SIDECAR_SUFFIX == ".provenance.json"
    assert len(FRAMES_COLUMNS) == 87


def _dict_reader(path: Path, delimiter: str = ",") -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        return list(reader.fieldnames or []), list(reader)


def _sidecar(path: Path) -> dict:
    side = path.with_name(path.name + formats.PROVENANCE_SIDECAR_SUFFIX)
    assert side.is_file(), side
    doc = json.loads(side.read_text(encoding="utf-8"))
    assert doc["format"] == "cuewatch-provenance" and doc["file"] == path.name
    return doc


def test_csv_exports_are_plain_with_a_provenance_sidecar(media: Path, face_tracks: dict,
                                                         tmp_path: Path) -> None:
    from cuewatch.exports import run_export
    from cuewatch.exports.boris import BORIS_COLUMNS
    from cuewatch.exports.csv import FLAGS_EXPORT_COLUMNS, REVIEWS_EXPORT_COLUMNS

    bundle = make_bundle(media, tracks=face_tracks)
    files = run_export("csv", [bundle], tmp_path / "csv") + run_export(
        "frames", [bundle], tmp_path / "frames") + run_export("boris", [bundle], tmp_path / "boris")
    tables = [f for f in files if f.suffix in (".csv", ".tsv")]
    assert len(tables) == 5
    expected = {".flags.csv": FLAGS_EXPORT_COLUMNS, ".reviews.csv": REVIEWS_EXPORT_COLUMNS,
                ".frames.csv": FRAMES_CSV_BASE_COLUMNS + BLENDSHAPE_NAMES + ("AU12_r", "valence"),
                "events.csv": BORIS_COLUMNS, "events.tsv": BORIS_COLUMNS}
    for table in tables:
        columns = next(v for k, v in expected.items() if table.name.endswith(k))
        header, rows = _dict_reader(table, "\t" if table.suffix == ".tsv" else ",")
        assert tuple(header) == columns, table.name  # the first row is the header
        assert rows and not any(line.startswith("#") for line in table.read_text().splitlines())
        if "events" not in table.name:  # BORIS keeps its provenance in "Description"
            assert _sidecar(table)["provenance"] == PROV
    assert _sidecar(next(t for t in tables if t.name.endswith(".frames.csv")))["client_track"] == 1


def test_analyze_and_export_frames_share_one_writer(named_project: Path, tmp_path: Path,
                                                    model_path: Path) -> None:
    """analyze's frames.csv and export --format frames: same 87 columns, same values."""
    video = named_project.parent / "jane_doe_intake.flv"
    cuewatch("analyze", video, "--transcript", named_project.parent / "jane_doe_intake.vtt",
             "--client-speaker", "Jane Doe", "--out", tmp_path / "analyze", "--quiet",
             model_path=model_path)
    analysed = tmp_path / "analyze" / "jane_doe_intake"
    header, rows = _dict_reader(analysed / "frames.csv")
    assert tuple(header) == FRAMES_COLUMNS
    proc = cuewatch("export", named_project, "--format", "frames", "--out", tmp_path / "export",
                    "--purpose", "research", "--quiet", model_path=model_path)
    exported = next(Path(x) for x in proc.stdout.split() if x.endswith(".frames.csv"))
    export_header, export_rows = _dict_reader(exported)
    assert export_header == header
    assert len(export_rows) == len(rows) and export_rows[len(rows) // 2] == rows[len(rows) // 2]
    assert _sidecar(exported)["client_track"] == 0
    flags_header, flag_rows = _dict_reader(analysed / "flags.csv")  # plain too
    assert tuple(flags_header) == FLAGS_CSV_COLUMNS and flag_rows
    assert _sidecar(analysed / "flags.csv")["provenance"]["model_sha256"]


def test_html_report_reads_as_a_report(named_project: Path, tmp_path: Path,
                                       model_path: Path) -> None:
    from cuewatch.exports.describe import EVIDENCE_LABELS
    from cuewatch.exports.html import TRAINING_AID_NOTICE, esc

    proc = cuewatch("export", named_project, "--format", "html", "--out", tmp_path,
                    "--purpose", "supervision", "--quiet", model_path=model_path)
    text = Path(proc.stdout.split()[0]).read_text(encoding="utf-8")
    assert text.count(esc(TRAINING_AID_NOTICE)) == 1  # the disclaimer once
    agreement = text[text.index("<h3>Agreement</h3>"):]
    agreement = agreement[:agreement.index("<h3>Provenance</h3>")]
    assert "{" not in agreement and "&quot;" not in agreement  # no raw JSON
    assert "<th>Cohen&rsquo;s kappa</th>" in agreement
    assert re.search(rf"<td>{REVIEWER_1} / Tom Tinker</td><td>1</td>", agreement), agreement
    evidence = [m for m in re.findall(r"<h4>Evidence</h4>(.*?)<h4>", text, re.DOTALL)]
    assert evidence
    for key in EVIDENCE_LABELS:  # labels, not internal keys
        assert f">{key}<" not in evidence[0]
    assert ">clearest moment<" in evidence[0] and ">face seen during the words<" in evidence[0]


def test_review_listing_prints_notes(named_project: Path, model_path: Path) -> None:
    out = cuewatch("review", named_project, model_path=model_path).stdout
    assert f"note {REVIEWER_1}: {NOTE_1}" in out and f"note Tom Tinker: {NOTE_2}" in out
    assert "first look" not in out  # a replaced verdict's note is history, not listed
