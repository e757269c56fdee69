"""Exports (issue 4, section 5): real files, real ffmpeg cuts of real faces, ELAN via pympi."""

from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from cuewatch.domain import Flag, Gap, MoodSegment, Recording, Review
from cuewatch.errors import CuewatchError
from cuewatch.exports import EXPORT_FORMATS, Annotation, ExportBundle, run_export
from cuewatch.exports.naming import NameAllocator, path_in, safe_filename
from cuewatch.exports.tables import read_table
from cuewatch.formats import BLENDSHAPE_NAMES, FRAMES_CSV_BASE_COLUMNS, N_BLENDSHAPES
from cuewatch.progress import Cancelled, Progress

PROV = {"cuewatch_version": "0.1.0", "model_sha256": "ab" * 32,
        "parameters": {"fps": 15.0, "sensitivity": "medium"},
        "rules": {"face_pass_revision": 4, "expression_revision": 7, "rules_hash": "0" * 16,
                  "neutral_span": None},
        "created": "2024-05-01T10:00:00+00:00"}
CLIP = "1001_DFA_HAP_XX.flv"  # 1.87 s, 480x360, 29.97 fps, mp3 sound


@pytest.fixture(scope="module")
def media(synthetic_video) -> Path:
    """A real video file with sound and no face, shaped like CLIP (480x360, 29.97 fps,
    1.87 s): for the exports that read the file but no face."""
    return synthetic_video(0)


@pytest.fixture(scope="module")
def face_media(media_dir: Path) -> Path:
    """The real clip with a face: for the exports that blur or list the face."""
    path = media_dir / "crema_d" / CLIP
    assert path.is_file(), path
    return path


@pytest.fixture(scope="module")
def face_tracks(face_media: Path) -> dict:
    """The actor's face boxes, found with OpenCV's bundled detector on every 3rd frame.

    Stands in for the analysis's tracks (the exports only read boxes); a real detector
    on the real clip, so the blur test checks a real face region."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    cap = cv2.VideoCapture(str(face_media))
    ts, boxes, frames = [], [], []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if i % 3 == 0:
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            found = cascade.detectMultiScale(gray, 1.1, 5, minSize=(60, 60))
            if len(found):
                x, y, w, h = max(found, key=lambda r: r[2] * r[3])
                ts.append(t)
                boxes.append([x, y, x + w, y + h])
                frames.append(i)
        i += 1
    cap.release()
    assert len(ts) >= 10, "the face detector should find the actor's face"
    n = len(ts)
    rng = np.random.default_rng(0)
    return {1: {"track_id": 1, "timestamp": np.array(ts), "bbox": np.array(boxes, np.float32),
                "frame": np.array(frames), "confidence": np.full(n, 0.9, np.float32),
                "pose": np.zeros((n, 3), np.float32),
                "blendshapes": rng.random((n, N_BLENDSHAPES)).astype(np.float32),
                "columns": {"AU12_r": np.linspace(0, 2, n), "valence": np.linspace(-0.5, 0.5, n)}}}


def make_bundle(media: Path, **overrides) -> ExportBundle:
    rec = Recording(path=str(media), sha256="c0ffee" * 10 + "abcd", duration=1.87, fps=29.97,
                    width=480, height=360, id=3)
    segments = [
        MoodSegment(0.0, 0.8, "Therapist Smith", "How has your week been?"),
        MoodSegment(0.8, 1.8, "Jane Doe", "I've been really sad lately.", -0.7, "sad", 0.9),
        MoodSegment(1.2, 1.5, "Listener", "Mm-hm."),
    ]
    flags = [
        Flag(0.9, 1.5, "incongruence", 1, {"words": "I've been really sad lately.", "category": "sad",
                                           "valence": -0.7},
             {"category": "happy", "valence": 0.55}, 0.8, 0.7,
             {"aus": {"AU12": 2.4, "AU06": 1.1}, "peak_time": 1.2, "utterance_start": 0.8,
              "utterance_end": 1.8}, id=7),
        Flag(1.1, 1.4, "leak", 1, {"words": "", "category": None, "valence": None},
             {"category": "happy", "valence": 0.3}, 0.4, 0.5, {"peak_time": 1.25}, id=8),
    ]
    reviews = [
        Review(7, "alice", "disagree", "first look", "2024-05-02T09:00:00"),
        Review(7, "alice", "agree", "smile while saying sad", "2024-05-02T10:00:00"),
        Review(7, "bob", "unsure", "=HYPERLINK(\"x\") <script>alert(1)</script>", "2024-05-02T11:00:00"),
        Review(8, "bob", "agree", "", "2024-05-02T11:05:00"),
    ]
    kw = dict(recording=rec, media_path=media, provenance=PROV, segments=segments,
              client_speaker="Jane Doe", flags=flags, gaps=[Gap(0.0, 0.25, 1)], reviews=reviews,
              annotations=[{"start": 0.3, "end": 0.6, "label": "gaze away", "note": "looks down",
                            "reviewer": "alice"},
                           Annotation(recording_id=None, start=0.4, end=0.7, label="self-touch", reviewer="bob")],
              expression_spans=[(0.0, 0.9, "neutral"), (0.9, 1.8, "happy")],
              valence_curve=(np.linspace(0, 1.8, 28), np.sin(np.linspace(0, 5, 28))),
              client_track=1)
    kw.update(overrides)
    return ExportBundle(**kw)


def inside(paths, out: Path) -> None:
    for p in paths:
        assert p.resolve().parent == out.resolve(), p
        assert p.is_file() and p.stat().st_size > 0, p


# ---- names ------------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "../../etc/passwd", "/etc/passwd", "C:\\Windows\\system32\\x", "a\x00b", "x" * 5000,
    "CON", "con.txt", "LPT1", "Nul", "", "...", " . ", "..", "a/../../b", "\u00e9t\u00e9 \U0001F600" * 40,
])
def test_safe_filename_is_one_harmless_component(name: str, tmp_path: Path) -> None:
    out = safe_filename(name, ".csv")
    assert out.endswith(".csv")
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert not out.startswith(".") and out[:-4] and not out[:-4].endswith((".", " "))
    assert len(out.encode("utf-8")) <= 120
    assert out.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "LPT1", "COM1"}
    assert path_in(tmp_path, out).parent == tmp_path.resolve()


def test_path_in_refuses_to_leave_the_folder(tmp_path: Path) -> None:
    for bad in ("..", "../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(CuewatchError):
            path_in(tmp_path, bad)


def test_name_allocator_keeps_names_distinct() -> None:
    names = NameAllocator()
    got = [names.claim("Session", ".csv"), names.claim("session", ".csv"),
           names.claim("x" * 500, ".csv"), names.claim("x" * 500, ".csv")]
    assert len({g.casefold() for g in got}) == 4


def test_hostile_recording_and_speaker_names_stay_inside(media: Path, tmp_path: Path) -> None:
    rec_names = ["../../etc/passwd", "/etc/passwd", "CON", "a\x00b", "y" * 3000]
    bundles = [make_bundle(media, recording=Recording(path=n, sha256=f"{i:064d}", duration=1.87),
                           client_speaker="../../root", segments=[MoodSegment(0, 1, "../../root", "hi", 0.5, "happy")])
               for i, n in enumerate(rec_names)]
    out = tmp_path / "out"
    for fmt in ("csv", "json", "eaf", "boris"):
        paths = run_export(fmt, bundles, out)
        inside(paths, out)
    # per recording: flags.csv, reviews.csv, their two provenance sidecars, json, eaf
    assert len(list(out.iterdir())) == len(rec_names) * 6 + 2
    assert not (tmp_path / "etc").exists()


# ---- shared rules -------------------------------------------------------------------
def test_every_export_needs_provenance(media: Path) -> None:
    with pytest.raises(CuewatchError, match="provenance"):
        make_bundle(media, provenance={"cuewatch_version": "0.1.0"})
    with pytest.raises(CuewatchError, match="provenance"):
        make_bundle(media, provenance=None)


def test_unknown_format_and_file_as_folder(media: Path, tmp_path: Path) -> None:
    with pytest.raises(CuewatchError, match="unknown export format"):
        run_export("xlsx", [make_bundle(media)], tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CuewatchError, match="not a folder"):
        run_export("csv", [make_bundle(media)], blocker)
    assert set(EXPORT_FORMATS) == {"csv", "json", "frames", "eaf", "boris", "clips", "html"}


def test_cancel_leaves_no_partial_files(media: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        run_export("csv", [make_bundle(media)], tmp_path, progress=Progress(cancel=stop))
    assert list(tmp_path.iterdir()) == []


_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from cuewatch.files import atomic_path
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"half a clip")
    print(tmp, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_export_partial_is_removed_by_the_next_export(media: Path, tmp_path: Path) -> None:
    import sys

    out = tmp_path / "clips"
    out.mkdir()
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(out / "flag_7.mp4")],
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    left = Path(killed.stdout.strip())
    assert left.parent == out and left.name.startswith(".") and left.is_file()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = out / f".flag_8.{running.pid}.partial.mp4"  # another export still writing it
        busy.write_bytes(b"in progress")
        paths = run_export("clips", [make_bundle(media)], out, context_s=0.2)
        assert not left.exists()
        assert busy.exists()
        assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [busy.name]
        assert all(p.is_file() for p in paths)
    finally:
        running.kill()
        running.wait()
    run_export("clips", [make_bundle(media)], out, context_s=0.2)  # its writer is gone now
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


# ---- csv / json ---------------------------------------------------------------------
def test_csv_flags_with_verdicts_notes_evidence(media: Path, tmp_path: Path) -> None:
    from cuewatch.exports.csv import FLAGS_EXPORT_COLUMNS, REVIEWS_EXPORT_COLUMNS

    assert FLAGS_EXPORT_COLUMNS == (
        "recording", "id", "start", "end", "type", "track", "stated_words", "stated_category",
        "stated_valence", "expressed_category", "expressed_valence", "severity", "confidence",
        "peak_time", "evidence_aus", "utterance_start", "utterance_end", "evidence",
        "n_reviewers", "n_agree", "n_disagree", "n_unsure", "verdicts", "notes", "raised",
        "response_kind", "response_evidence", "response_latency_s", "response_turn_start",
        "response_rule", "response_reason", "missed", "mirroring", "mirroring_reason")
    assert REVIEWS_EXPORT_COLUMNS == ("recording", "flag_id", "flag_start", "flag_end", "flag_type",
                                      "reviewer", "verdict", "note", "time", "current",
                                      "flag_raised")
    flags_csv, flags_side, reviews_csv, reviews_side = run_export("csv", [make_bundle(media)], tmp_path)
    cols, rows, comments = read_table(flags_csv.read_text(encoding="utf-8"))
    assert tuple(cols) == FLAGS_EXPORT_COLUMNS and comments == []  # plain CSV
    for table, side in ((flags_csv, flags_side), (reviews_csv, reviews_side)):
        assert side.name == table.name + ".provenance.json"
        assert json.loads(side.read_text(encoding="utf-8"))["provenance"] == PROV
    first = rows[0]
    assert first["id"] == "7" and float(first["start"]) == 0.9 and first["stated_category"] == "sad"
    assert float(first["stated_valence"]) == -0.7  # a negative number stays a number
    assert first["verdicts"] == "alice=agree; bob=unsure"  # alice's later verdict is current
    assert "smile while saying sad" in first["notes"] and "first look" not in first["notes"]
    assert first["n_agree"] == "1" and first["n_unsure"] == "1"
    assert first["evidence_aus"] == "AU12=2.40 AU06=1.10"  # as cuewatch analyze writes it
    assert json.loads(first["evidence"])["peak_time"] == 1.2
    _, reviews, _ = read_table(reviews_csv.read_text(encoding="utf-8"))
    assert len(reviews) == 4
    alice = [r for r in reviews if r["reviewer"] == "alice"]
    assert {(r["verdict"], r["current"]) for r in alice} == {("disagree", "0"), ("agree", "1")}
    bob = [r for r in reviews if r["reviewer"] == "bob" and r["flag_id"] == "7"][0]
    assert bob["note"].startswith("'=HYPERLINK")  # never run as a spreadsheet formula


def test_json_flags_document(media: Path, tmp_path: Path) -> None:
    from cuewatch.exports.json import FLAGS_EXPORT_JSON_KEYS

    bundle = make_bundle(media)
    bundle.flags[1].evidence["score"] = float("nan")
    (path,) = run_export("json", [bundle], tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: pytest.fail(c))
    assert tuple(doc) == FLAGS_EXPORT_JSON_KEYS
    assert doc["provenance"] == PROV and doc["version"] == 2
    f7 = doc["flags"][0]
    assert f7["key"] == "7" and f7["evidence"]["aus"]["AU12"] == 2.4
    assert [(r["reviewer"], r["verdict"]) for r in f7["reviews"]] == [("alice", "agree"), ("bob", "unsure")]
    assert [r["verdict"] for r in f7["review_history"]] == ["disagree"]
    assert doc["flags"][1]["evidence"]["score"] is None
    assert doc["client_speaker"] == "Jane Doe" and doc["annotations"][0]["label"] == "gaze away"
    (anon,) = run_export("json", [bundle], tmp_path / "anon", anonymise=True)
    text = anon.read_text(encoding="utf-8")
    assert "Jane Doe" not in text and "Smith" not in text and str(media) not in text
    assert json.loads(text)["client_speaker"] == "client"


# ---- frames ------------------------------------------------------------------------
def test_frames_openface_columns_and_provenance(face_media: Path, face_tracks: dict, tmp_path: Path) -> None:
    (path, side) = run_export("frames", [make_bundle(face_media, tracks=face_tracks)], tmp_path)
    cols, rows, comments = read_table(path.read_text(encoding="utf-8"))
    assert tuple(cols) == FRAMES_CSV_BASE_COLUMNS + BLENDSHAPE_NAMES + ("AU12_r", "valence")
    sidecar = json.loads(side.read_text(encoding="utf-8"))
    assert comments == [] and sidecar["provenance"] == PROV and sidecar["client_track"] == 1
    n = len(face_tracks[1]["timestamp"])
    assert len(rows) == n and all(r["success"] == "1" and r["face_id"] == "1" for r in rows)
    assert float(rows[-1]["valence"]) == pytest.approx(0.5, abs=1e-3)
    assert float(rows[0]["timestamp"]) == pytest.approx(face_tracks[1]["timestamp"][0], abs=1e-3)
    with pytest.raises(CuewatchError, match="analyse"):
        run_export("frames", [make_bundle(face_media)], tmp_path / "none")


# ---- ELAN ---------------------------------------------------------------------------
def test_eaf_opens_in_pympi_with_tiers_and_times(media: Path, tmp_path: Path) -> None:
    import pympi

    from cuewatch.exports.eaf import EAF_TIERS

    assert EAF_TIERS == ("client utterances", "client stated mood", "utterances: SPEAKER",
                         "client expression", "flags", "client face not seen",
                         "therapist responses", "verdicts: REVIEWER", "annotations: REVIEWER")
    (path,) = run_export("eaf", [make_bundle(media)], tmp_path)
    raw = path.read_text(encoding="utf-8")
    assert 'VERSION="3.0"' in raw and "EAFv3.0.xsd" in raw
    eaf = pympi.Elan.Eaf(str(path))
    tiers = set(eaf.get_tier_names())
    assert {"client utterances", "client stated mood", "utterances: Therapist Smith",
            "utterances: Listener", "client expression", "flags", "flags (2)",
            "client face not seen", "verdicts: alice", "verdicts: bob", "annotations: alice",
            "annotations: bob"} <= tiers
    assert eaf.get_annotation_data_for_tier("client utterances") == [(800, 1800, "I've been really sad lately.")]
    assert eaf.get_annotation_data_for_tier("client stated mood")[0][:2] == (800, 1800)
    assert "sad" in eaf.get_annotation_data_for_tier("client stated mood")[0][2]
    (flag7,) = eaf.get_annotation_data_for_tier("flags")
    assert flag7[:2] == (900, 1500)
    assert "incongruence" in flag7[2] and "stated sad (-0.70) vs expressed happy (+0.55)" in flag7[2]
    assert eaf.get_annotation_data_for_tier("flags (2)")[0][:2] == (1100, 1400)
    assert sorted(a[2] for a in eaf.get_annotation_data_for_tier("verdicts: alice")) == [
        "#7 agree: smile while saying sad"]
    assert eaf.get_annotation_data_for_tier("annotations: alice") == [(300, 600, "gaze away: looks down")]
    assert eaf.get_annotation_data_for_tier("client expression")[1] == (900, 1800, "happy")
    (media_desc,) = eaf.get_linked_files()
    assert media_desc["MEDIA_URL"] == media.resolve().as_uri()
    rel = media_desc["RELATIVE_MEDIA_URL"]
    assert (path.parent / rel).resolve() == media.resolve()
    props = dict(eaf.get_properties())
    assert props["model_sha256"] == "ab" * 32 and json.loads(props["parameters"]) == PROV["parameters"]
    assert props["cuewatch_version"] == "0.1.0" and props["created"] == PROV["created"]


# ---- BORIS --------------------------------------------------------------------------
def test_boris_aggregated_events_tsv_and_csv(media: Path, tmp_path: Path) -> None:
    from cuewatch.exports.boris import BORIS_COLUMNS

    assert BORIS_COLUMNS == (
        "Observation id", "Observation date", "Description", "Observation type", "Source",
        "Time offset (s)", "Coding duration", "Media duration (s)", "FPS (frame/s)", "Subject",
        "Observation duration by subject by observation", "Behavior", "Behavioral category",
        "Modifier #1", "Modifier #2", "Behavior type", "Start (s)", "Stop (s)", "Duration (s)",
        "Media file name", "Image index start", "Image index stop", "Image file path start",
        "Image file path stop", "Comment start", "Comment stop", "Comment")
    tsv, csv_path = run_export("boris", [make_bundle(media), make_bundle(media)], tmp_path)
    assert tsv.suffix == ".tsv" and csv_path.suffix == ".csv"
    for path, delim in ((tsv, "\t"), (csv_path, ",")):
        text = path.read_text(encoding="utf-8")
        assert text.split("\n", 1)[0].split(delim) == list(BORIS_COLUMNS)  # header first, no comments
        cols, rows, comments = read_table(text, delimiter=delim)
        assert not comments
        assert {r["Observation id"] for r in rows} == {media.stem, f"{media.stem}-2"}
        flags = [r for r in rows if r["Behavior"] == "incongruence"]
        assert len(flags) == 2
        f = flags[0]
        assert (f["Subject"], f["Start (s)"], f["Stop (s)"], f["Duration (s)"]) == ("Jane Doe", "0.9", "1.5", "0.6")
        assert "alice agree" in f["Comment"] and "ab" * 32 in f["Description"]
        for r in rows:
            assert math.isclose(float(r["Duration (s)"]), float(r["Stop (s)"]) - float(r["Start (s)"]), abs_tol=1e-3)
        assert {"stated mood", "expression", "leak", "face not seen", "utterance", "gaze away"} <= {r["Behavior"] for r in rows}


# ---- clips (real ffmpeg) -------------------------------------------------------------
def _ffmpeg_info(path: Path) -> str:
    from cuewatch.exports.clips import ffmpeg_exe

    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr


def _video_frames(path: Path) -> tuple[int, float, list]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return len(frames), fps, frames


def test_clips_cut_with_context_and_sound(media: Path, tmp_path: Path) -> None:
    bundle = make_bundle(media)
    bundle.flags[1] = Flag(0.1, 0.3, "leak", 1, {}, {"category": "happy"}, 0.4, 0.5, {}, id=8)
    paths = run_export("clips", [bundle], tmp_path, context_s=0.4)
    inside(paths, tmp_path)
    manifest = json.loads(paths[-1].read_text(encoding="utf-8"))
    assert manifest["provenance"] == PROV
    expected = {"7": (0.5, 1.87), "8": (0.0, 0.7)}
    for clip in manifest["clips"]:
        start, end = expected[clip["flag"]]
        assert (clip["clip_start"], clip["clip_end"]) == pytest.approx((start, end), abs=1e-3)
        n, fps, _ = _video_frames(tmp_path / clip["file"])
        assert n / fps == pytest.approx(end - start, abs=0.1)
        info = _ffmpeg_info(tmp_path / clip["file"])
        assert "Audio:" in info and "h264" in info and "ab" * 32 in info


def test_clip_starts_on_the_asked_frame(media: Path, tmp_path: Path) -> None:
    """Accurate seek: the clip's first frame is the source frame at the flag start."""
    bundle = make_bundle(media, flags=[Flag(1.0, 1.2, "leak", 1, {}, {}, 0.5, 0.5, {}, id=1)])
    (clip, _) = run_export("clips", [bundle], tmp_path, context_s=0.0)
    _, _, frames = _video_frames(clip)
    cap = cv2.VideoCapture(str(media))
    source = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        source.append((cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, frame))
    diffs = [(np.abs(frame.astype(int) - frames[0].astype(int)).mean(), t) for t, frame in source]
    best_t = min(diffs)[1]
    assert best_t == pytest.approx(1.0, abs=0.05)


def _sharpness(image: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def test_anonymised_clip_blurs_the_face(face_media: Path, face_tracks: dict, tmp_path: Path) -> None:
    bundle = make_bundle(face_media, tracks=face_tracks)
    bundle.flags = bundle.flags[:1]
    plain_dir, anon_dir = tmp_path / "plain", tmp_path / "anon"
    (plain, _) = run_export("clips", [bundle], plain_dir, context_s=0.3)
    (anon, _) = run_export("clips", [bundle], anon_dir, context_s=0.3, anonymise=True)
    assert "1001" not in anon.name  # anonymised names
    n_plain, _, plain_frames = _video_frames(plain)
    n_anon, fps, anon_frames = _video_frames(anon)
    assert abs(n_plain - n_anon) <= 1 and n_anon / fps == pytest.approx(1.2, abs=0.1)
    assert "Audio:" in _ffmpeg_info(plain) and "Audio:" not in _ffmpeg_info(anon)  # no voice
    box = face_tracks[1]["bbox"][len(face_tracks[1]["bbox"]) // 2]
    n = min(n_plain, n_anon)
    for k in (0, n // 2, n - 1):  # first, middle and last frame
        before, after = _sharpness(plain_frames[k], box), _sharpness(anon_frames[k], box)
        assert after < before / 5, (k, before, after)
    # the background away from the face keeps its detail
    corner = (0, 0, 80, 80)
    mid = n // 2
    assert _sharpness(anon_frames[mid], corner) > 0.5 * _sharpness(plain_frames[mid], corner)


def test_anonymise_without_face_tracks_is_refused(media: Path, tmp_path: Path) -> None:
    with pytest.raises(CuewatchError, match="no face tracks"):
        run_export("clips", [make_bundle(media)], tmp_path / "c", anonymise=True)
    with pytest.raises(CuewatchError, match="no face tracks"):
        run_export("html", [make_bundle(media)], tmp_path / "h", anonymise=True)
    assert not any((tmp_path / "c").iterdir()) and not any((tmp_path / "h").iterdir())


# ---- HTML ---------------------------------------------------------------------------
def _images(text: str) -> list[np.ndarray]:
    out = []
    for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text):
        out.append(cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR))
    return out


def test_html_report_is_self_contained_and_complete(media: Path, tmp_path: Path) -> None:
    from cuewatch.exports.html import TRAINING_AID_NOTICE

    (path,) = run_export("html", [make_bundle(media)], tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text)
    assert "http://" not in text and "https://" not in text
    assert "Content-Security-Policy" in text
    assert TRAINING_AID_NOTICE.split(".")[0] in text
    assert "Flag #7" in text and "Flag #8" in text
    assert "I&#x27;ve been really sad lately." in text  # the words, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "AU12" in text and "smile while saying sad" in text and "gaze away" in text
    assert "ab" * 32 in text and "cuewatch_version" in text
    images = _images(text)
    assert len(images) == 3  # timeline + one thumbnail per flag
    timeline = images[0]
    assert timeline.shape[1] >= 800
    # the flag's shading shows in the timeline between its start and end
    x = int(60 + (1000 - 76) * 1.2 / 1.87)
    assert not np.array_equal(timeline[120, x], np.array([255, 255, 255], np.uint8))
    thumb = images[1]
    assert thumb.shape[1] == 320 and thumb.std() > 10  # a real frame, not blank


def test_html_anonymised_blurs_thumbnails(face_media: Path, face_tracks: dict, tmp_path: Path) -> None:
    bundle = make_bundle(face_media, tracks=face_tracks)
    (plain,) = run_export("html", [bundle], tmp_path / "p")
    (anon,) = run_export("html", [bundle], tmp_path / "a", anonymise=True)
    text = anon.read_text(encoding="utf-8")
    assert "Jane Doe" not in text and "Therapist Smith" not in text and CLIP not in text
    scale = 320 / 480
    box = face_tracks[1]["bbox"][len(face_tracks[1]["bbox"]) // 2] * scale
    before = _sharpness(_images(plain.read_text(encoding="utf-8"))[1], box)
    after = _sharpness(_images(text)[1], box)
    assert after < before / 5


# ---- the analysis's own Features objects ---------------------------------------------
def _real_features(face_tracks: dict, frame_time: np.ndarray, directory: Path):
    from cuewatch.features.folder import Features, TrackFeatures

    t = face_tracks[1]
    n = len(t["timestamp"])
    track = TrackFeatures(track_id=1, frame=t["frame"].astype(np.int32), timestamp=t["timestamp"],
                          bbox=t["bbox"], confidence=t["confidence"], blendshapes=t["blendshapes"],
                          pose=t["pose"], _landmarks=np.zeros((n, 478, 3), np.float16))
    index = np.arange(len(frame_time))
    return Features(directory=directory, meta={}, frame_index=index, frame_time=frame_time,
                    tracks={1: track})


def test_exports_take_the_analysis_features(face_media: Path, face_tracks: dict, tmp_path: Path) -> None:
    # the frames export computes the expression from them, cached in their folder
    features = _real_features(face_tracks, np.arange(56) / 29.97, tmp_path / "features")
    bundle = make_bundle(face_media, tracks=features)
    (frames, _) = run_export("frames", [bundle], tmp_path)
    _, rows, _ = read_table(frames.read_text(encoding="utf-8"))
    assert len(rows) == 56  # every analysed frame, success 0 where the face was not seen
    assert sum(r["success"] == "1" for r in rows) == len(face_tracks[1]["timestamp"])
    bundle.flags = bundle.flags[:1]
    clip, _ = run_export("clips", [bundle], tmp_path / "c", context_s=0.2, anonymise=True)
    assert clip.stat().st_size > 0
    # a clip beyond what the face pass looked at cannot be anonymised
    short = make_bundle(face_media, tracks=_real_features(face_tracks, np.arange(10) / 29.97,
                                                           tmp_path / "features"))
    with pytest.raises(CuewatchError, match="analysed only"):
        run_export("clips", [short], tmp_path / "d", context_s=0.2, anonymise=True)
