"""Anonymised exports are anonymous (issue 10, section 3).

A real project with distinctive names (a real video called ``jane_doe_intake.flv`` (a
CREMA-D clip remuxed, bit for bit the same frames) whose container title names the client, ``Jane_Doe_course.cuewatch``, reviewers "Dr Alice
Smith" and "Tom Tinker", speakers "Jane Doe" and "Dr Bob Jones", consent recorded by
"Dr Carol White", a note naming "Mary Poppins"), really analysed, then exported in every
format with ``cuewatch export --anonymise`` in a real process. Every byte of every output
file (clips included, their container metadata read by ffmpeg too) is searched for every
name the project knows.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cuewatch.exports import EXPORT_FORMATS
from cuewatch.project.store import Project

ROOT = Path(__file__).resolve().parents[1]
CLIENT, THERAPIST = "Jane Doe", "Dr Bob Jones"
REVIEWER_1, REVIEWER_2 = "Dr Alice Smith", "Tom Tinker"
RECORDED_BY = "Dr Carol White"
NOTE_1 = "Jane said her aunt Mary Poppins visited; smile while saying happy"
NOTE_2 = "Tinker thinks the frown is concentration"
VTT = f"""WEBVTT

00:00:00.000 --> 00:00:00.300
<v {THERAPIST}>So how are you?

00:00:00.300 --> 00:00:01.800
<v {CLIENT}>Honestly I feel really happy and relaxed today.

00:00:01.800 --> 00:00:02.200
<v {THERAPIST}>You look angry as you say that.
"""
CONSENT = {"participants": [{"name": CLIENT, "role": "client"},
                            {"name": THERAPIST, "role": "therapist"}],
           "scopes": ["training", "supervision", "research"], "obtained": "2026-01-10",
           "recorded_by": RECORDED_BY}


def cuewatch(*argv: object, model_path: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUEWATCH_MODEL=str(model_path))
    proc = subprocess.run([sys.executable, "-m", "cuewatch", *[str(a) for a in argv]],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
                          check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def ffmpeg() -> str:
    from cuewatch.exports.clips import ffmpeg_exe

    return ffmpeg_exe()


def build_named_project(root: Path, media_dir: Path, model_path: Path) -> Path:
    """The project above, analysed for real, with verdicts, notes and an annotation."""
    root.mkdir(parents=True, exist_ok=True)
    video = root / "jane_doe_intake.flv"
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i",
                    str(media_dir / "crema_d" / "1001_DFA_ANG_XX.flv"), "-c", "copy",
                    "-metadata", f"title={CLIENT} intake session",
                    "-metadata", f"artist={REVIEWER_1}", str(video)], check=True)
    (root / "jane_doe_intake.flv.consent.json").write_text(json.dumps(CONSENT))
    transcript = root / "jane_doe_intake.vtt"
    transcript.write_text(VTT)
    project = root / "Jane_Doe_course.cuewatch"
    cuewatch("project", "new", project, model_path=model_path)
    cuewatch("project", "add", project, video, "--transcript", transcript,
             "--client-speaker", CLIENT, model_path=model_path)
    cuewatch("project", "analyze", project, "--quiet", model_path=model_path)
    with Project.open(project) as p:
        flags = p.flags.all()
        assert flags, "the analysis should raise a flag on 'happy' said with an angry face"
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        p.annotations.add(rid, 0.2, 0.9, "gaze away", f"{CLIENT} looks at {REVIEWER_2}",
                          reviewer=REVIEWER_1)
    fid = flags[0].id
    cuewatch("review", project, "--flag", fid, "--reviewer", REVIEWER_1, "--verdict", "disagree",
             "--note", "first look", model_path=model_path)
    cuewatch("review", project, "--flag", fid, "--reviewer", REVIEWER_1, "--verdict", "agree",
             "--note", NOTE_1, model_path=model_path)
    cuewatch("review", project, "--flag", fid, "--reviewer", REVIEWER_2, "--verdict", "unsure",
             "--note", NOTE_2, model_path=model_path)
    return project


@pytest.fixture(scope="module")
def named_project(tmp_path_factory: pytest.TempPathFactory, media_dir: Path,
                  model_path: Path) -> Path:
    return build_named_project(tmp_path_factory.mktemp("named"), media_dir, model_path)


def names_the_project_knows(project: Path) -> set[str]:
    """Every name of a person or a file the project holds, read from the project itself."""
    names = {project.name, project.stem}
    with Project.open(project) as p:
        for rec in p.recordings.all():
            names |= {Path(rec.path).name, Path(rec.path).stem, str(rec.path)}
            rid = int(rec.id)  # type: ignore[arg-type]
            names |= {s.speaker for s in p.analyses.mood_segments(rid) if s.speaker}
            status = p.consents.status(rid)
            names |= {pp["name"] for pp in status.participants}
            names.add(status.recorded_by or "")
            names |= {a.reviewer for a in p.annotations.all(rid)}
            names |= {a.note for a in p.annotations.all(rid) if a.note}
        for r in p.reviews.all(superseded=True):
            names.add(r.reviewer)
            if r.note:
                names.add(r.note)
    assert {CLIENT, THERAPIST, REVIEWER_1, REVIEWER_2, RECORDED_BY, NOTE_1,
            "jane_doe_intake", "Jane_Doe_course"} <= names
    names.discard("")
    # each person's given and family name alone too ("Smith", "Poppins")
    parts = {w for n in names | {"Mary Poppins"} for w in re.split(r"[\s_.\-/]+", n)
             if len(w) >= 4 and w[0].isupper()}
    return names | parts | {"Mary Poppins"}


def _normal(text: str) -> str:
    """Lower-case words between single spaces: the separators of file names, URLs
    ("%20"), HTML and JSON read as spaces, so "jane_doe_intake" is "jane doe intake"."""
    text = text.replace("%20", " ").replace("&#x27;", "'")
    return " " + " ".join(re.sub(r"[^0-9a-z']+", " ", text.lower()).split()) + " "


def _found(data: bytes, names: set[str]) -> list[str]:
    """The names found as whole words ("Mary" is not in "summary")."""
    text = _normal(data.decode("utf-8", errors="replace"))
    utf16 = _normal(data.decode("utf-16-le", errors="replace"))  # some MP4 tags are UTF-16
    return sorted(n for n in names if _normal(n).strip() and (
        _normal(n) in text or _normal(n) in utf16))


def _ffprobe(path: Path) -> str:
    """What ffmpeg reads from a media file: streams and container metadata."""
    return subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True, check=False).stderr


def _export_all(project: Path, out: Path, model_path: Path, *extra: str) -> list[Path]:
    files = []
    for fmt in EXPORT_FORMATS:
        proc = cuewatch("export", project, "--format", fmt, "--out", out / fmt, "--purpose",
                        "research", "--anonymise", "--quiet", *extra, model_path=model_path)
        files += [Path(line) for line in proc.stdout.split("\n") if line.strip()]
    return files


def test_anonymised_exports_hold_no_name(named_project: Path, tmp_path: Path,
                                         model_path: Path) -> None:
    names = names_the_project_knows(named_project)
    # the names are there to find: a plain export shows them
    plain = cuewatch("export", named_project, "--format", "json", "--out", tmp_path / "plain",
                     "--purpose", "research", "--quiet", model_path=model_path)
    plain_text = Path(plain.stdout.split()[0]).read_bytes()
    assert {REVIEWER_1, NOTE_1, "Jane_Doe_course.cuewatch"} <= set(_found(plain_text, names))
    assert "Jane Doe intake session" in _ffprobe(named_project.parent / "jane_doe_intake.flv")
    plain_doc = json.loads(plain_text)
    assert plain_doc["attunement"]["therapist"]["speaker"] == THERAPIST  # the attunement names them

    out = tmp_path / "anon"
    files = _export_all(named_project, out, model_path)
    on_disk = sorted(p for p in out.rglob("*") if p.is_file())
    assert sorted(files) == on_disk  # every file written is listed, none hidden
    assert {p.parent.name for p in on_disk} == set(EXPORT_FORMATS)
    clips = [p for p in on_disk if p.suffix == ".mp4"]
    assert clips, "one clip per flag"
    leaks = {}
    for path in on_disk:
        found = _found(path.name.encode(), names) + _found(path.read_bytes(), names)
        if path.suffix == ".mp4":
            found += _found(_ffprobe(path).encode(), names)
        if found:
            leaks[str(path.relative_to(out))] = sorted(set(found))
    assert leaks == {}
    for clip in clips:  # no voice
        info = _ffprobe(clip)
        assert "Video:" in info and "Audio:" not in info, info
    # pseudonyms in their place
    doc = json.loads((out / "json" / "R1.flags.json").read_text(encoding="utf-8"))
    reviews = doc["flags"][0]["reviews"]
    assert [(r["reviewer"], r["verdict"], r["note"]) for r in reviews] == [
        ("A", "agree", ""), ("B", "unsure", "")]
    assert doc["client_speaker"] == "client" and doc["annotations"][0]["reviewer"] == "A"
    assert {s["speaker"] for s in doc["segments"]} == {"client", "therapist"}
    # the attunement: the therapist by role, the trainee's words kept as transcribed
    attunement = doc["attunement"]
    assert attunement["therapist"]["speaker"] == "therapist"
    assert attunement["summary"]["therapist_speaker"] == "therapist"
    response = doc["flags"][0]["response"]
    assert (response["kind"], response["evidence"]) == ("named", "You look angry as you say that.")
    rows = list(csv.DictReader((out / "csv" / "R1.flags.csv").open(encoding="utf-8")))
    assert rows[0]["response_kind"] == "named" and rows[0]["response_evidence"] == response["evidence"]
    assert "project" not in doc["provenance"]
    assert doc["provenance"]["anonymisation"]["notes"].endswith("left out")
    assert {p["a"] for p in doc["agreement"]["pairs"]} | {p["b"] for p in doc["agreement"]["pairs"]} \
        <= {"A", "B", "cuewatch"}
    import pympi

    eaf = pympi.Elan.Eaf(str(out / "eaf" / "R1.eaf"))
    (media,) = eaf.get_linked_files()
    assert media["MEDIA_URL"].endswith("/R1.flv") and media["RELATIVE_MEDIA_URL"] == "./R1.flv"
    assert eaf.tiers["therapist responses"][2]["PARTICIPANT"] == "therapist"
    assert "named" in eaf.get_annotation_data_for_tier("therapist responses")[0][2]
    html = next((out / "html").glob("*.html")).read_text(encoding="utf-8")
    assert "<h3>Attunement</h3>" in html and "therapist: therapist" in html
    manifest = json.loads(next((out / "clips").glob("*.clips.json")).read_text(encoding="utf-8"))
    assert manifest["audio"] is False
    assert "audio is removed" in manifest["provenance"]["anonymisation"]["audio"]
    assert "audio is removed" in _ffprobe(clips[0])  # the clip's own metadata says so


def test_orphaned_verdicts_are_anonymised_too(named_project: Path, tmp_path: Path,
                                               model_path: Path) -> None:
    """A verdict whose flag a recompute no longer raises is still exported (orphaned), and
    anonymised like any other: its flag's words, speaker and reviewer carry no name."""
    import shutil

    project = tmp_path / named_project.name
    shutil.copy2(named_project, project)
    data = named_project.parent / (named_project.name + "-data")
    if data.is_dir():
        shutil.copytree(data, tmp_path / data.name)
    names = names_the_project_knows(project)
    cuewatch("project", "flags", project, "--min-duration", "600", model_path=model_path)
    out = tmp_path / "anon"
    for fmt in ("json", "csv"):
        cuewatch("export", project, "--format", fmt, "--out", out / fmt, "--purpose", "research",
                 "--anonymise", "--quiet", model_path=model_path)
    doc = json.loads((out / "json" / "R1.flags.json").read_text(encoding="utf-8"))
    assert doc["flags"] == [] and doc["orphaned_verdicts"], "every verdict orphaned, none lost"
    leaks = {str(p.relative_to(out)): _found(p.read_bytes(), names)
             for p in out.rglob("*") if p.is_file()}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_html_states_what_anonymising_did(named_project: Path, tmp_path: Path,
                                          model_path: Path) -> None:
    from cuewatch.exports.anonymise import (
        STATEMENT_FACES,
        STATEMENT_NOTES_IN,
        STATEMENT_NOTES_OUT,
        STATEMENT_PEOPLE,
        STATEMENT_RECORDINGS,
    )
    from cuewatch.exports.html import esc

    for extra, notes in (((), STATEMENT_NOTES_OUT), (("--include-notes",), STATEMENT_NOTES_IN)):
        out = tmp_path / ("with" if extra else "without")
        proc = cuewatch("export", named_project, "--format", "html", "--out", out, "--purpose",
                        "research", "--anonymise", "--quiet", *extra, model_path=model_path)
        text = Path(proc.stdout.split()[0]).read_text(encoding="utf-8")
        assert "names and faces anonymised" not in text
        for statement in (STATEMENT_RECORDINGS, STATEMENT_PEOPLE, STATEMENT_FACES, notes):
            assert esc(statement) in text
        assert "no sound" in text
        assert (esc(NOTE_1) in text) == bool(extra)  # notes only when asked for
        assert REVIEWER_1 not in text


def test_keep_audio_and_include_notes_opt_in(named_project: Path, tmp_path: Path,
                                             model_path: Path) -> None:
    proc = cuewatch("export", named_project, "--format", "clips", "--out", tmp_path / "c",
                    "--purpose", "research", "--anonymise", "--keep-audio", "--quiet",
                    model_path=model_path)
    files = [Path(x) for x in proc.stdout.split()]
    clip = next(p for p in files if p.suffix == ".mp4")
    assert "Audio:" in _ffprobe(clip)
    manifest = json.loads(next(p for p in files if p.suffix == ".json").read_text(encoding="utf-8"))
    assert manifest["audio"] is True and "--keep-audio" in manifest["provenance"]["anonymisation"]["audio"]
    proc = cuewatch("export", named_project, "--format", "csv", "--out", tmp_path / "n",
                    "--purpose", "research", "--anonymise", "--include-notes", "--quiet",
                    model_path=model_path)
    reviews = next(Path(x) for x in proc.stdout.split() if x.endswith(".reviews.csv"))
    text = reviews.read_text(encoding="utf-8")
    assert NOTE_1 in text and REVIEWER_1 not in text and REVIEWER_2 not in text
    # --keep-audio is for clips only: one clear line, exit 2
    proc = cuewatch("export", named_project, "--format", "csv", "--out", tmp_path / "x",
                    "--anonymise", "--keep-audio", "--quiet", model_path=model_path, check=False)
    assert proc.returncode == 2 and "clips only" in proc.stderr and "Traceback" not in proc.stderr


def test_anonymise_bundles_every_text_format(tmp_path: Path, media_dir: Path) -> None:
    """The same rule without a project: hand-made bundles, every text format."""
    from test_exports import CLIP, make_bundle

    from cuewatch.exports import run_export
    from cuewatch.exports.anonymise import reviewer_alias

    assert [reviewer_alias(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]
    bundle = make_bundle(media_dir / "crema_d" / CLIP)
    bundle.provenance["project"] = "Jane_Doe_course.cuewatch"
    bundle.provenance["parameters"]["client_speaker"] = "Jane Doe"
    bundle.agreement = {"reviewers": ["alice", "bob"], "n_flags": 2, "tool": "cuewatch",
                        "pairs": [{"a": "alice", "b": "bob", "n": 1, "kappa": None,
                                   "observed": 1.0, "expected": 1.0, "note": ""}]}
    names = {"alice", "bob", "Jane Doe", "Therapist Smith", "Listener", "1001_DFA_HAP_XX",
             "Jane_Doe_course", "smile while saying sad", "looks down"}
    for fmt in ("csv", "json", "eaf", "boris"):
        for path in run_export(fmt, [bundle], tmp_path / fmt, anonymise=True):
            assert _found(path.read_bytes(), names) == [], (fmt, path.name)
    (doc_path,) = run_export("json", [bundle], tmp_path / "notes", anonymise=True,
                             include_notes=True)
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    assert doc["flags"][0]["reviews"][0]["note"] == "smile while saying sad"
    assert doc["flags"][0]["reviews"][0]["reviewer"] == "A"  # alice judged first
    assert doc["agreement"]["pairs"][0]["a"] == "A" and doc["provenance"]["parameters"][
        "client_speaker"] == "client"
    assert doc["provenance"]["parameters"]["sensitivity"] == "medium"  # other values untouched
