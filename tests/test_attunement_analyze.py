"""Both people, both tracks: ``cuewatch analyze`` with a transcript writes attunement.json
(the trainee's response and the mirroring per flag, the session's synchrony), on real
two-person and single-person role-plays with the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cuewatch import formats
from cuewatch.attunement.synchrony import LEADERS, MIRROR_SIGNALS, MIRRORING_VERDICTS, SYNCHRONY_SIGNALS
from cuewatch.domain import MoodSegment
from cuewatch.errors import TranscriptError
from cuewatch.faces.client_face import choose_therapist_speaker, parse_face_choice
from cuewatch.provenance import PROVENANCE_KEYS
from cuewatch.rules import rules_hash
from cuewatch.words.response import RESPONSE_KINDS

CONSENT = json.dumps({"participants": [{"name": "actor", "role": "client"},
                                       {"name": "trainee", "role": "therapist"}],
                      "scopes": ["training", "research"], "obtained": "2014-01-01"})
#: the kind a reader of the transcript gives each therapist line of the eval role-plays.
READER_KINDS = {"What was that like for you?": "explored", "Tell me more about that.": "explored",
                "And how are things at home?": "moved_on", "How has your week been?": "moved_on"}


def analyze(video: Path, out: Path, cache: Path, model: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUEWATCH_CACHE=str(cache), CUEWATCH_MODEL=str(model))
    return subprocess.run([sys.executable, "-m", "cuewatch", "analyze", str(video), "--transcript",
                           str(video.with_suffix(".vtt")), "--consent", CONSENT, "--out", str(out),
                           "--quiet", *extra], capture_output=True, text=True, env=env, timeout=900)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory, eval_dir: Path, model_path: Path, feature_cache: Path) -> Path:
    out = tmp_path_factory.mktemp("wide")
    proc = analyze(eval_dir / "crema_wide.mp4", out, feature_cache, model_path)
    assert proc.returncode == 0, proc.stderr
    return out / "crema_wide"


@pytest.fixture(scope="module")
def single_run(tmp_path_factory, eval_dir: Path, model_path: Path, feature_cache: Path) -> Path:
    out = tmp_path_factory.mktemp("single")
    proc = analyze(eval_dir / "crema_single.mp4", out, feature_cache, model_path)
    assert proc.returncode == 0, proc.stderr
    return out / "crema_single"


def _check_layout(doc: dict) -> None:
    assert tuple(doc) == formats.ATTUNEMENT_JSON_KEYS
    assert doc["format"] == formats.ATTUNEMENT_JSON_FORMAT
    assert doc["version"] == formats.ATTUNEMENT_JSON_VERSION
    assert tuple(doc["client"]) == tuple(doc["therapist"]) == formats.ATTUNEMENT_PERSON_KEYS
    assert set(PROVENANCE_KEYS) <= set(doc["provenance"])
    assert doc["provenance"]["rules"]["rules_hash"] == rules_hash()
    assert tuple(doc["synchrony"]) == formats.ATTUNEMENT_SYNCHRONY_KEYS
    for item in doc["flags"]:
        assert tuple(item) == formats.ATTUNEMENT_FLAG_KEYS
        if item["response"] is not None:
            assert tuple(item["response"]) == formats.ATTUNEMENT_RESPONSE_KEYS


def _check_responses(doc: dict, flags: list[dict]) -> None:
    """A response per flag, from the therapist's words, of the kind a reader gives them."""
    assert flags, "the role-play raises flags"
    assert [(f["start"], f["end"]) for f in doc["flags"]] == [
        (round(f["start"], 3), round(f["end"], 3)) for f in flags]
    assert [f["id"] for f in doc["flags"]] == list(range(1, len(flags) + 1))
    for item in doc["flags"]:
        response = item["response"]
        assert response is not None and item["response_reason"] == ""
        assert response["kind"] in RESPONSE_KINDS
        assert response["evidence"] in READER_KINDS, response
        assert response["kind"] == READER_KINDS[response["evidence"]]
        deciding = next(t for t in response["turns"] if t["text"] == response["evidence"])
        assert response["latency"] == pytest.approx(max(0.0, deciding["start"] - item["end"]), abs=0.01)


def test_two_person_role_play_has_a_therapist_track_and_a_response_per_flag(wide_run: Path) -> None:
    doc = json.loads((wide_run / "attunement.json").read_text())
    flags = json.loads((wide_run / "flags.json").read_text())["flags"]
    summary = json.loads((wide_run / "summary.json").read_text())
    _check_layout(doc)
    assert doc["client"] == {"speaker": "Client", "track": summary["client"]["track"]}
    assert doc["therapist"]["speaker"] == "Therapist"
    track_ids = {t["track_id"] for t in summary["tracks"]}
    assert doc["therapist"]["track"] in track_ids - {doc["client"]["track"]}
    assert summary["therapist"] == doc["therapist"]
    assert doc["provenance"]["parameters"]["therapist_track"] == doc["therapist"]["track"]
    _check_responses(doc, flags)
    for item in doc["flags"]:  # both faces are on camera: a mirroring verdict, not a reason
        assert item["mirroring"]["verdict"] in MIRRORING_VERDICTS and item["mirroring_reason"] == ""
        assert tuple(item["mirroring"]["changes"]) == MIRROR_SIGNALS
    sync = doc["synchrony"]
    assert tuple(sync["signals"]) == SYNCHRONY_SIGNALS
    assert sync["lag_s"] is not None and abs(sync["lag_s"]) <= doc["settings"]["synchrony"]["max_lag_s"]
    assert sync["leader"] in LEADERS and sync["over_time"]
    assert sync["z"] is not None or sync["reason"]  # a 20 s role-play is too short for surrogates
    assert doc["settings"]["response"]["window_s"] > 0


def test_single_person_recording_gets_responses_from_words_and_no_face_numbers(single_run: Path) -> None:
    doc = json.loads((single_run / "attunement.json").read_text())
    flags = json.loads((single_run / "flags.json").read_text())["flags"]
    _check_layout(doc)
    assert doc["therapist"] == {"speaker": "Therapist", "track": None}
    _check_responses(doc, flags)
    for item in doc["flags"]:
        assert item["mirroring"] is None
        assert item["mirroring_reason"] == formats.THERAPIST_NOT_ON_CAMERA
    sync = doc["synchrony"]
    assert sync["reason"] == formats.THERAPIST_NOT_ON_CAMERA
    assert sync["z"] is None and sync["lag_s"] is None and sync["leader"] is None


def test_therapist_face_by_id_is_used(wide_run: Path, tmp_path: Path, eval_dir: Path,
                                      model_path: Path, feature_cache: Path) -> None:
    summary = json.loads((wide_run / "summary.json").read_text())
    other = next(t["track_id"] for t in summary["tracks"] if t["track_id"] != summary["client"]["track"])
    proc = analyze(eval_dir / "crema_wide.mp4", tmp_path, feature_cache, model_path,
                   "--therapist-face", str(other), "--therapist-speaker", "therapist")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "crema_wide" / "attunement.json").read_text())
    assert doc["therapist"] == {"speaker": "Therapist", "track": other}


def test_mood_file_without_speakers_says_why_there_is_no_response(tmp_path: Path, eval_dir: Path,
                                                                  model_path: Path,
                                                                  feature_cache: Path) -> None:
    """Without speaker labels nobody's words are the therapist's: no response kind is made up."""
    mood = tmp_path / "moods.csv"
    mood.write_text("start,end,mood\n1.2,3.24,okay\n4.44,6.32,sad\n7.52,9.52,happy\n")
    env = dict(os.environ, CUEWATCH_CACHE=str(feature_cache), CUEWATCH_MODEL=str(model_path))
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "analyze", str(eval_dir / "crema_single.mp4"),
                           "--mood", str(mood), "--consent", CONSENT, "--out", str(tmp_path / "out"),
                           "--quiet"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "crema_single" / "attunement.json").read_text())
    _check_layout(doc)
    assert doc["client"]["speaker"] is None and doc["therapist"] == {"speaker": None, "track": None}
    assert doc["flags"], "the sad words over a smile are flagged"
    for item in doc["flags"]:
        assert item["response"] is None and item["response_reason"] == formats.NO_SPEAKER_LABELS
        assert item["mirroring_reason"] == formats.THERAPIST_NOT_ON_CAMERA


@pytest.mark.parametrize("value", ["sideways", "-1", "1.5", "", "left right"])
def test_bad_therapist_face_exits_2_with_one_line_before_analysing(tmp_path: Path, eval_dir: Path,
                                                                    model_path: Path, value: str) -> None:
    proc = analyze(eval_dir / "crema_wide.mp4", tmp_path / "out", tmp_path / "cache", model_path,
                   "--therapist-face", value)
    assert "--therapist-face" in _one_line(proc)
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("option,value", [("--therapist-face", "7"), ("--therapist-face", "client"),
                                          ("--therapist-speaker", "Nobody"),
                                          ("--therapist-speaker", "Client")])
def test_therapist_choice_the_recording_cannot_meet_exits_2_with_one_line(
        wide_run: Path, tmp_path: Path, eval_dir: Path, model_path: Path, feature_cache: Path,
        option: str, value: str) -> None:
    if value == "client":  # the client's own track is not the therapist's
        value = str(json.loads((wide_run / "summary.json").read_text())["client"]["track"])
    proc = analyze(eval_dir / "crema_wide.mp4", tmp_path, feature_cache, model_path, option, value)
    assert option.lstrip("-").split("-")[0] in _one_line(proc)
    assert not (tmp_path / "crema_wide" / "attunement.json").exists()


# ------------------------------------------------------------------ choices, no media
def _seg(start: float, speaker: str) -> MoodSegment:
    return MoodSegment(start, start + 1, speaker, "words")


def test_therapist_speaker_is_the_one_who_is_not_the_client() -> None:
    two = [_seg(0, "Sam"), _seg(1, "Client"), _seg(2, "Sam")]
    assert choose_therapist_speaker(two, "Client") == "Sam"
    assert choose_therapist_speaker(two, "Client", " SAM ") == "Sam"
    three = [_seg(0, "Client"), _seg(1, "Counsellor"), _seg(2, "Observer")]
    assert choose_therapist_speaker(three, "Client") == "Counsellor"
    assert choose_therapist_speaker([_seg(0, "Client"), _seg(1, "A"), _seg(2, "B")], "Client") is None
    assert choose_therapist_speaker([_seg(0, "Client")], "Client") is None
    with pytest.raises(TranscriptError, match="not found"):
        choose_therapist_speaker(two, "Client", "Therapist")
    with pytest.raises(TranscriptError, match="is the client"):
        choose_therapist_speaker(two, "Client", "client")


def test_face_choices_are_parsed_once_for_both_people() -> None:
    assert [parse_face_choice(v, "--therapist-face") for v in ("Auto", " left", "RIGHT", "largest", "3")] \
        == ["auto", "left", "right", "largest", "3"]
    for bad in ("", "-1", "x", "٣"):
        with pytest.raises(TranscriptError, match="--client-face takes auto"):
            parse_face_choice(bad, "--client-face")
