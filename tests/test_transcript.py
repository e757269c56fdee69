"""Transcript and mood-file reading: every format, the edge cases of issue 3 section 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cuewatch.domain import MoodSegment
from cuewatch.errors import CuewatchError, TranscriptError
from cuewatch.faces.client_face import choose_client_speaker, client_segments, speakers
from cuewatch.words.transcript import load_mood_file, load_transcript


def _write(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


VTT = """WEBVTT
Kind: captions
Language: en

NOTE written by hand
for a test

STYLE
::cue { color: yellow }

1
00:00:00.000 --> 00:00:01.500
<v Therapist>How are you?

intro
00:00:01.500 --> 00:00:04.000 align:start position:10% line:90%
<v.loud Client>I'm <i>fine</i>, <b>really</b>.</v>
<c.yellow>Nothing</c> to &amp; worry &lt;about&gt;.

00:00:04.000 --> 00:00:06.000
<v Therapist>Go on.
<v Client>I <00:00:05.000>guess.
"""


def test_vtt_voices_tags_settings_and_lines(tmp_path: Path) -> None:
    segs, warnings = load_transcript(_write(tmp_path, "a.vtt", VTT))
    assert warnings == []
    assert [(s.speaker, s.text, s.line) for s in segs] == [
        ("Therapist", "How are you?", 12),
        ("Client", "I'm fine, really. Nothing to & worry <about>.", 16),
        ("Therapist", "Go on.", 20),
        ("Client", "I guess.", 20),
    ]
    assert (segs[1].start, segs[1].end) == (1.5, 4.0)
    assert all(s.valence is None and s.category is None for s in segs)  # filled later


@pytest.mark.parametrize("encoding,newline", [("utf-8-sig", "\r\n"), ("utf-8-sig", "\n"),
                                              ("utf-8", "\r"), ("utf-16", "\r\n")])
def test_vtt_bom_and_line_endings(tmp_path: Path, encoding: str, newline: str) -> None:
    path = _write(tmp_path, "b.vtt", VTT, encoding=encoding, newline=newline)
    segs, warnings = load_transcript(path)
    assert warnings == []
    assert [s.line for s in segs] == [12, 16, 20, 20]
    assert segs[0].text == "How are you?" and "\r" not in segs[1].text


SRT = """1
00:00:01,000 --> 00:00:03,000
Client: I've been feeling <i>low</i>.

2
00:00:03,500 --> 00:00:05,000
Therapist: Tell me more.

3
00:00:05,000 --> 00:00:07,250 X1:100 X2:200 Y1:10 Y2:20
{\\an8}Client: It's been hard,
you know.
"""


def test_srt_name_colon_speakers(tmp_path: Path) -> None:
    segs, warnings = load_transcript(_write(tmp_path, "s.srt", SRT, encoding="utf-8-sig", newline="\r\n"))
    assert warnings == []
    assert [(s.start, s.end, s.speaker, s.text, s.line) for s in segs] == [
        (1.0, 3.0, "Client", "I've been feeling low.", 2),
        (3.5, 5.0, "Therapist", "Tell me more.", 6),
        (5.0, 7.25, "Client", "It's been hard, you know.", 10),
    ]


def test_bracket_speaker_ids(tmp_path: Path) -> None:
    text = """WEBVTT

00:00.000 --> 00:02.000
[SPEAKER_00]: How has your week been?

00:02.000 --> 00:04.000
[SPEAKER_01]: Honestly? Not great.

00:04.000 --> 00:05.000
[SPEAKER_01] Pretty rough.

00:05.000 --> 00:06.000
[laughs] OK: that's it.
"""
    segs, _ = load_transcript(_write(tmp_path, "d.vtt", text))
    assert [(s.speaker, s.text) for s in segs] == [
        ("SPEAKER_00", "How has your week been?"),
        ("SPEAKER_01", "Honestly? Not great."),
        ("SPEAKER_01", "Pretty rough."),
        (None, "[laughs] OK: that's it."),  # an annotation is not a speaker
    ]


def test_name_colon_is_not_every_colon(tmp_path: Path) -> None:
    text = "WEBVTT\n\n00:00.000 --> 00:02.000\nwhat I said was: fine\n\n00:02.000 --> 00:03.000\nDr. Lee: Okay.\n"
    segs, _ = load_transcript(_write(tmp_path, "c.vtt", text))
    assert [(s.speaker, s.text) for s in segs] == [(None, "what I said was: fine"), ("Dr. Lee", "Okay.")]


def test_out_of_order_cues_sorted_with_warning(tmp_path: Path) -> None:
    text = """WEBVTT

00:00:05.000 --> 00:00:06.000
<v Client>Second.

00:00:01.000 --> 00:00:02.000
<v Client>First.
"""
    segs, warnings = load_transcript(_write(tmp_path, "o.vtt", text))
    assert [s.text for s in segs] == ["First.", "Second."]
    assert [s.line for s in segs] == [6, 3]
    assert len(warnings) == 1 and "line 6" in warnings[0] and "sorted" in warnings[0]


def test_overlapping_and_duplicate_cues(tmp_path: Path) -> None:
    text = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Client>One.

00:00:03.000 --> 00:00:05.000
<v Client>Two.

00:00:03.500 --> 00:00:04.500
<v Therapist>Mm.

00:00:03.000 --> 00:00:05.000
<v Client>Two.
"""
    segs, warnings = load_transcript(_write(tmp_path, "ov.vtt", text))
    assert [s.text for s in segs] == ["One.", "Two.", "Mm."]
    joined = " | ".join(warnings)
    assert "line 12: duplicate" in joined
    assert "line 6: cue overlaps" in joined
    assert "line 9" not in joined  # crosstalk between speakers is normal


def test_end_before_start_is_an_error_with_line(tmp_path: Path) -> None:
    text = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA: hi\n\n00:00:05.000 --> 00:00:03.000\nB: bye\n"
    with pytest.raises(TranscriptError) as err:
        load_transcript(_write(tmp_path, "bad.vtt", text))
    message = str(err.value)
    assert message.startswith("bad.vtt line 6:") and "before it starts" in message
    assert "\n" not in message and err.value.exit_code == 2


def test_unreadable_timestamp_is_an_error_with_line(tmp_path: Path) -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:00:0x,000 --> 00:00:03,000\nbye\n"
    with pytest.raises(TranscriptError, match=r"^t\.srt line 6: cannot read"):
        load_transcript(_write(tmp_path, "t.srt", text))
    text = "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:00:75,000 --> 00:00:80,000\nbye\n"
    with pytest.raises(TranscriptError, match=r"line 6: cannot read the timestamp '00:00:75,000'"):
        load_transcript(_write(tmp_path, "t2.srt", text))


def test_cue_past_video_end_is_clipped_or_refused(tmp_path: Path) -> None:
    text = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Client>Inside.

00:00:08.000 --> 00:00:12.000
<v Client>Runs past the end.
"""
    path = _write(tmp_path, "end.vtt", text)
    segs, warnings = load_transcript(path, duration=10.0)
    assert segs[-1].end == 10.0 and segs[-1].start == 8.0
    assert any("line 6" in w and "clipped" in w for w in warnings)
    segs, warnings = load_transcript(path)  # no duration: nothing to clip against
    assert segs[-1].end == 12.0 and warnings == []
    with pytest.raises(TranscriptError, match=r"^end\.vtt line 6: starts at 8\.000 s, after the video ends \(5\.000 s\)"):
        load_transcript(path, duration=5.0)


def test_cue_starting_at_the_end_is_dropped(tmp_path: Path) -> None:
    text = "WEBVTT\n\n00:01.000 --> 00:02.000\nA: hi\n\n00:10.100 --> 00:11.000\nA: bye\n"
    segs, warnings = load_transcript(_write(tmp_path, "e.vtt", text), duration=10.0)
    assert [s.text for s in segs] == ["hi"]
    assert any("line 6" in w and "skipped" in w for w in warnings)


def test_repairs_are_reported(tmp_path: Path) -> None:
    # no header, comma decimals, missing blank line between cues, stray text, no millis
    text = """00:00:01,000 --> 00:00:02,000
<v Client>One.
2
00:00:02.000 --> 00:00:03.000
<v Client>Two.

some stray words

00:00:04 --> 00:00:05
<v Client>Three.

00:00:06.000 --> 00:00:07.000
"""
    segs, warnings = load_transcript(_write(tmp_path, "r.vtt", text))
    assert [(s.start, s.end, s.text, s.line) for s in segs] == [
        (1.0, 2.0, "One.", 1), (2.0, 3.0, "Two.", 4), (4.0, 5.0, "Three.", 9),
    ]
    joined = "\n".join(warnings)
    for expected in ("line 1: no WEBVTT header", "'00:00:01,000' uses ','", "line 7: text outside",
                     "'00:00:04' has no milliseconds", "line 12: cue with no text"):
        assert expected in joined


def test_srt_content_in_vtt_file_and_back(tmp_path: Path) -> None:
    segs, warnings = load_transcript(_write(tmp_path, "x.vtt", SRT))
    assert len(segs) == 3 and any("holds SRT" in w for w in warnings)
    segs, warnings = load_transcript(_write(tmp_path, "y.srt", VTT))
    assert len(segs) == 4 and any("holds WebVTT" in w for w in warnings)


@pytest.mark.parametrize("name,content,pattern", [
    ("plain.vtt", "Hello there, this is not a transcript.\n", r"^plain\.vtt line 1: no cues found"),
    ("plain.txt", "Hello there.\n", r"^plain\.txt line 1: not a WebVTT, SRT, CSV, JSON file"),
    ("empty.srt", "\n\n  \n", r"^empty\.srt: the transcript is empty"),
    ("notext.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\n<i></i>\n", r"no cue in the transcript has any text"),
    ("arrow.vtt", "WEBVTT\n\n1\nabc --> 00:02.000\nhi\n", r"^arrow\.vtt line 4: cannot read the cue timing"),
])
def test_wrong_format_is_one_clear_line(tmp_path: Path, name: str, content: str, pattern: str) -> None:
    with pytest.raises(TranscriptError, match=pattern) as err:
        load_transcript(_write(tmp_path, name, content))
    assert "\n" not in str(err.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="not found"):
        load_transcript(tmp_path / "nope.vtt")
    with pytest.raises(TranscriptError, match="is a folder"):
        load_transcript(tmp_path)
    binary = tmp_path / "video.vtt"
    binary.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00")
    with pytest.raises(TranscriptError, match="binary file"):
        load_transcript(binary)
    with pytest.raises(TranscriptError, match="not a positive number"):
        load_transcript(_write(tmp_path, "ok.vtt", VTT), duration=float("nan"))


def test_latin1_file_is_read_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, "l.srt", "1\n00:00:01,000 --> 00:00:02,000\nClient: Ça va, café.\n", encoding="cp1252")
    segs, warnings = load_transcript(path)
    assert segs[0].text == "Ça va, café." and "Windows-1252" in warnings[0]


# --------------------------------------------------------------------------- mood files
def test_mood_csv_words_numbers_speakers(tmp_path: Path) -> None:
    text = "\ufeffStart,End,Mood,Speaker\r\n0,2.5,fine,Client\r\n# a comment\r\n2.5,4,anxious,Client\r\n" \
           "00:00:04.000,6,-0.6,\r\n6,8,not great,Client\r\n"
    segs, warnings = load_mood_file(_write(tmp_path, "m.csv", text))
    assert warnings == []
    got = [(s.start, s.end, s.speaker, s.category, s.line) for s in segs]
    assert got == [(0.0, 2.5, "Client", "calm", 2), (2.5, 4.0, "Client", "fearful", 4),
                   (4.0, 6.0, None, None, 5), (6.0, 8.0, "Client", "sad", 6)]
    assert segs[0].valence > 0 and segs[1].valence < 0 and segs[2].valence == -0.6 and segs[3].valence < 0
    assert segs[0].text == "fine" and segs[0].certainty == 1.0
    # the same file through the one entry point
    segs2, _ = load_transcript(tmp_path / "m.csv")
    assert [s.valence for s in segs2] == [s.valence for s in segs]


def test_mood_csv_headerless_semicolon_and_valence_column(tmp_path: Path) -> None:
    segs, _ = load_mood_file(_write(tmp_path, "h.csv", "1;2;happy\n3;4;sad;Ann\n"))
    assert [(s.category, s.speaker) for s in segs] == [("happy", None), ("sad", "Ann")]
    segs, _ = load_mood_file(_write(tmp_path, "v.tsv", "start\tend\tvalence\tmood\n0\t1\t0.2\tcalm\n"))
    assert (segs[0].valence, segs[0].category) == (0.2, "calm")


@pytest.mark.parametrize("rows,pattern", [
    ("start,end,mood\n0,1,fine\n2,1,sad\n", r"^m\.csv line 3: end \(1 s\) is before start \(2 s\)"),
    ("start,end,mood\n0,1,blorptastic\n", r"line 2: mood 'blorptastic' is not a mood cuewatch knows"),
    ("start,end,mood\n0,1,3\n", r"line 2: mood '3': valence 3 is outside -1\.\.1"),
    ("start,end,mood\n0,1,\n", r"line 2: no mood"),
    ("start,end,mood\n0,abc,sad\n", r"line 2: cannot read the timestamp 'abc'"),
    ("start,end,mood\n0,-1,sad\n", r"line 2: end time '-1' is not a time"),
    ("start,stop_time,feeling\n0,1,sad\n", r"line 1: the header \(start, stop_time, feeling\) needs columns"),
    ("0,1\n", r"line 1: expected start, end and mood"),
    ("start,end,mood\n", r"the mood file has no rows"),
])
def test_mood_csv_errors(tmp_path: Path, rows: str, pattern: str) -> None:
    with pytest.raises(TranscriptError, match=pattern):
        load_mood_file(_write(tmp_path, "m.csv", rows))


def test_mood_json_rows_with_lines(tmp_path: Path) -> None:
    data = {"video": "x.mp4", "segments": [
        {"start": 0, "end": 2, "mood": "happy", "speaker": "Client"},
        {"start": 2, "end": 3.5, "valence": -0.4},
        {"start": 4, "end": 30, "mood": "relaxed", "text": "I'm relaxed"},
    ]}
    path = _write(tmp_path, "m.json", json.dumps(data, indent=2))
    segs, warnings = load_mood_file(path, duration=20.0)
    assert [(s.category, s.valence, s.line) for s in segs] == [("happy", 0.7, 4), (None, -0.4, 10), ("calm", 0.5, 15)]
    assert segs[2].end == 20.0 and segs[2].text == "I'm relaxed"
    assert any("line 15" in w and "clipped" in w for w in warnings)
    rows = _write(tmp_path, "l.json", '[\n {"start": 1, "end": 2, "mood": "furious"}\n]\n')
    segs, _ = load_transcript(rows)
    assert segs[0].category == "angry" and segs[0].line == 2


@pytest.mark.parametrize("content,pattern", [
    ('[{"start": 0, "end": 1, "mood": "sad"},\n {"start": 0 "end": 1}]', r"^m\.json line 2: not valid JSON"),
    ('{"rows2": []}', r"line 1: expected a list of rows"),
    ('[{"start": 0, "end": 1, "mood": "sad"},\n 5]', r"line 2: each row must be an object"),
    ('[\n{"start": 0, "end": 1, "mood": true}]', r"line 2: mood True is not a mood"),
    ('[\n{"start": 0, "end": 1}]', r"line 2: no mood"),
])
def test_mood_json_errors(tmp_path: Path, content: str, pattern: str) -> None:
    with pytest.raises(TranscriptError, match=pattern):
        load_mood_file(_write(tmp_path, "m.json", content))


def test_mood_file_refuses_a_transcript(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="not a CSV, JSON file"):
        load_mood_file(_write(tmp_path, "a.vtt", VTT))


# --------------------------------------------------------------------------- client speaker
def _segs(*names: str | None) -> list[MoodSegment]:
    return [MoodSegment(start=i, end=i + 1, speaker=n, text="x") for i, n in enumerate(names)]


def test_choose_client_speaker() -> None:
    assert choose_client_speaker(_segs("Therapist", "CLIENT", "Therapist")) == "CLIENT"
    assert choose_client_speaker(_segs("Therapist", "Client A")) == "Client A"
    assert choose_client_speaker(_segs("SPEAKER_00", "SPEAKER_01"), "speaker_01") == "SPEAKER_01"
    assert choose_client_speaker(_segs("Maria")) == "Maria"
    assert choose_client_speaker(_segs("Therapist")) == "Therapist"  # the only one there is
    assert choose_client_speaker(_segs("Therapist", "Patient")) == "Patient"
    assert choose_client_speaker(_segs("Counsellor", "Sam", "Counsellor")) == "Sam"
    assert choose_client_speaker(_segs("Dr. Jones", "Trainee", "Sam")) == "Sam"
    assert choose_client_speaker(_segs(None, None)) is None
    assert speakers(_segs("B", None, "A", "B")) == ["B", "A"]
    segs = _segs("Therapist", "Client", None, "client")
    assert [s.start for s in client_segments(segs, "Client")] == [1, 3]
    assert len(client_segments(segs, None)) == 4


def test_choose_client_speaker_errors_list_speakers() -> None:
    with pytest.raises(TranscriptError, match=r"^client speaker 'Bob' not found; speakers in the transcript: Therapist, Client$"):
        choose_client_speaker(_segs("Therapist", "Client"), "Bob")
    with pytest.raises(TranscriptError, match=r"no speaker named Client; choose one with --client-speaker NAME \(speakers: SPEAKER_00, SPEAKER_01\)"):
        choose_client_speaker(_segs("SPEAKER_00", "SPEAKER_01"))
    with pytest.raises(TranscriptError, match="no speaker named Client"):
        choose_client_speaker(_segs("Therapist", "Sam", "Alex"))
    with pytest.raises(TranscriptError, match="no speaker labels"):
        choose_client_speaker(_segs(None), "Client")
    assert issubclass(TranscriptError, CuewatchError)


# --------------------------------------------------------------------------- eval set
def test_every_eval_transcript_parses(eval_dir: Path) -> None:
    files = sorted(eval_dir.glob("*.vtt"))
    assert files, "no transcripts in the eval set"
    for vtt in files:
        truth = json.loads(vtt.with_suffix(".truth.json").read_text())
        segs, warnings = load_transcript(vtt, duration=truth["duration"])
        assert warnings == [], (vtt.name, warnings)
        assert set(speakers(segs)) == {"Client", "Therapist"}, vtt.name
        assert choose_client_speaker(segs) == "Client"
        client = client_segments(segs, "Client")
        starts = [round(s.start, 2) for s in client]
        assert starts == [round(t["start"], 2) for t in truth["segments"]], vtt.name
        assert all(s.text and s.line and s.end > s.start for s in segs)
