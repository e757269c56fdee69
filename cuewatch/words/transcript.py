"""Reading transcripts (WebVTT, SRT) and mood segment files (CSV, JSON) into MoodSegments.

Transcripts come from many tools and hands: a BOM, CRLF, styling tags, cue settings,
cues out of order or overlapping are common and harmless, so they are repaired and
reported as warnings. What cannot be repaired without guessing (a timing line we cannot
read, an end before its start, a cue that starts after the video ends) raises a
TranscriptError naming the file and line, so the user can fix the file.

We keep our own line-by-line cue reader, because every message must carry a source line
number and webvtt-py/pysrt do not keep them; timestamps are read with webvtt-py's strict
``Timestamp`` (pysrt's reader takes "0:0:1,5" for 1.005 s).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from webvtt.errors import MalformedCaptionError
from webvtt.models import Timestamp

from cuewatch.domain import MoodSegment
from cuewatch.errors import TranscriptError
from cuewatch.formats import MOOD_FORMAT_BY_SUFFIX, TRANSCRIPT_FORMAT_BY_SUFFIX
from cuewatch.words.stated_mood import mood_from_label

#: A cue that starts this close after the video's end is dropped (rounding, a trailing
#: credit); one that starts later means the transcript is not for this video.
END_TOLERANCE_S = 0.5
#: At most this many warnings of one kind are listed; the rest are counted.
_MAX_WARNINGS_PER_KIND = 5



class _Source:
    """A decoded text file with its display name, for messages that say where."""

    def __init__(self, path: Path, text: str, warnings: list[str]) -> None:
        self.path = path
        self.name = path.name
        self.text = text
        self.lines = text.split("\n")
        self.warnings = warnings

    def error(self, line: Optional[int], message: str) -> TranscriptError:
        where = f"{self.name} line {line}" if line else self.name
        return TranscriptError(f"{where}: {message}")

    def warn(self, line: Optional[int], message: str) -> None:
        where = f"line {line}: " if line else ""
        self.warnings.append(f"{self.name}: {where}{message}")


def _read_text(path: str | Path, what: str) -> _Source:
    """Decode a file whatever its BOM and line endings; refuse binaries with one line."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise TranscriptError(f"{what} {p.name} not found ({p})") from None
    except IsADirectoryError:
        raise TranscriptError(f"{what} {p} is a folder, not a file") from None
    except OSError as exc:
        raise TranscriptError(f"cannot read {what} {p.name}: {exc.strerror or exc}") from None
    warnings: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise TranscriptError(f"{p.name}: not readable as UTF-16 text despite its BOM") from None
    else:
        if b"\x00" in data[:4096]:
            raise TranscriptError(f"{p.name}: a binary file, not a {what}")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = data.decode("cp1252", errors="replace")
            line = data[: exc.start].count(b"\n") + 1
            warnings.append(f"{p.name}: line {line}: not UTF-8; read as Windows-1252")
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise TranscriptError(f"{p.name}: the {what} is empty")
    return _Source(p, text, warnings)


# --------------------------------------------------------------------------- timestamps
_CLOCK_RE = re.compile(r"^(?:(\d{1,10}):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")


def _parse_clock(src: _Source, value: str, line: int, *, strict_sep: str) -> float:
    """Seconds from '[hh:]mm:ss.mmm'; tolerates a ',' / '.' mix-up and a missing fraction."""
    raw = value.strip()
    if raw and strict_sep not in raw and ("," in raw or "." in raw):
        other = "," if strict_sep == "." else "."
        if other in raw:
            src.warn(line, f"timestamp {raw!r} uses '{other}' before the milliseconds; read as '{strict_sep}'")
    try:
        return Timestamp.from_string(raw.replace(",", ".")).in_milliseconds() / 1000.0
    except MalformedCaptionError:
        pass
    m = _CLOCK_RE.match(raw)
    if m and int(m.group(2)) < 60 and int(m.group(3)) < 60:
        if m.group(4) is None:
            src.warn(line, f"timestamp {raw!r} has no milliseconds; read as whole seconds")
        hours = int(m.group(1) or 0)
        frac = int((m.group(4) or "0").ljust(3, "0"))
        return hours * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + frac / 1000.0
    raise src.error(line, f"cannot read the timestamp {raw!r} (expected hh:mm:ss{strict_sep}mmm)")


# --------------------------------------------------------------------------- speakers/text
_VOICE_RE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+?)\s*>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]*>|</[a-zA-Z.]*>|<\d[\d:.]*>|\{\\[^}]*\}")
_BRACKET_SPEAKER_RE = re.compile(r"^\[\s*(SPEAKER[_ ]?\d+|[^\[\]]{1,40}?)\s*\]\s*:\s*(.*)$", re.IGNORECASE)
_BARE_SPEAKER_ID_RE = re.compile(r"^\[\s*(SPEAKER[_ ]?\d+)\s*\]\s*(.*)$", re.IGNORECASE)
_NAME_WORD = r"(?:[A-Z][\w.'\-]*|SPEAKER_\d+)"
_NAME_SPEAKER_RE = re.compile(rf"^({_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})\s*:\s+(.*)$")
_NOT_NAMES = frozenset({"note", "notes", "ps", "re", "fyi", "warning", "update", "edit"})


def _clean(text: str) -> str:
    """Text as spoken: styling tags, inline timestamps and ASS codes out, entities decoded."""
    text = _TAG_RE.sub("", text)
    text = html.unescape(text).replace("\u00a0", " ").replace("\u200e", "").replace("\u200f", "")
    return re.sub(r"\s+", " ", text).strip()


def _split_speaker(line: str) -> tuple[Optional[str], str]:
    """A leading speaker label of one text line: <v Name>, [SPEAKER_00]: or Name: ."""
    voice = _VOICE_RE.search(line)
    if voice and not _clean(line[: voice.start()]):
        return _clean(voice.group(1)), _clean(line[voice.end():])
    text = _clean(line)
    text = re.sub(r"^(?:-|>>)\s*", "", text)
    for pattern in (_BRACKET_SPEAKER_RE, _BARE_SPEAKER_ID_RE, _NAME_SPEAKER_RE):
        m = pattern.match(text)
        if m and m.group(1).strip().lower() not in _NOT_NAMES:
            return m.group(1).strip(), m.group(2).strip()
    return None, text


def _cue_turns(text_lines: Sequence[str]) -> list[tuple[Optional[str], str]]:
    """One (speaker, text) per speaker run in a cue; lines without a label continue it."""
    turns: list[tuple[Optional[str], str]] = []
    for raw in text_lines:
        speaker, text = _split_speaker(raw)
        if speaker is None and turns:
            if text:
                prev_speaker, prev_text = turns[-1]
                turns[-1] = (prev_speaker, f"{prev_text} {text}".strip())
            continue
        if speaker is not None and turns and turns[-1][0] == speaker:
            turns[-1] = (speaker, f"{turns[-1][1]} {text}".strip())
            continue
        turns.append((speaker, text))
    return [(s, t) for s, t in turns if t]


# --------------------------------------------------------------------------- cues
_TIMING_RE = re.compile(
    r"^\s*(?P<start>\d[\d:.,]*)\s*-{1,3}>\s*(?P<end>\d[\d:.,]*)(?P<rest>.*)$"
)
_VTT_SKIP_BLOCKS = ("NOTE", "STYLE", "REGION")


def _parse_cues(src: _Source, kind: str) -> list[MoodSegment]:
    """Cues of a WebVTT or SRT file, line-numbered; repairs what is safe to repair."""
    lines = src.lines
    sep = "." if kind == "vtt" else ","
    segments: list[MoodSegment] = []
    i = 0
    n = len(lines)
    if kind == "vtt":
        if lines[0].strip().startswith("WEBVTT"):
            while i < n and lines[i].strip():  # header block: WEBVTT + metadata lines
                if "-->" in lines[i]:
                    break
                i += 1
        else:
            src.warn(1, "no WEBVTT header; read as WebVTT anyway")
    stray: list[int] = []
    empty: list[int] = []
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        # One block: lines up to the next blank line.
        start_line = i
        block_end = i
        while block_end < n and lines[block_end].strip():
            block_end += 1
        first = lines[i].strip()
        if kind == "vtt" and first.split(" ")[0].split("\t")[0] in _VTT_SKIP_BLOCKS and "-->" not in first:
            i = block_end
            continue
        j = i
        while j < block_end and "-->" not in lines[j]:
            j += 1
        if j == block_end:
            stray.append(start_line + 1)
            i = block_end
            continue
        if j - i > 1:  # text before the timing line: stray text, then an identifier
            stray.append(i + 1)
        # A block may hold several cues when blank lines between them are missing.
        while j < block_end:
            timing_line = j + 1
            m = _TIMING_RE.match(lines[j])
            if not m:
                raise src.error(timing_line, f"cannot read the cue timing {lines[j].strip()!r} (expected 'start --> end')")
            start = _parse_clock(src, m.group("start"), timing_line, strict_sep=sep)
            end = _parse_clock(src, m.group("end"), timing_line, strict_sep=sep)
            if end < start:
                raise src.error(timing_line, f"the cue ends ({m.group('end')}) before it starts ({m.group('start')})")
            k = j + 1
            while k < block_end and "-->" not in lines[k]:
                k += 1
            text_lines = lines[j + 1:k]
            if k < block_end and text_lines and re.fullmatch(r"\s*\S+\s*", text_lines[-1]) \
                    and re.fullmatch(r"\s*\d+\s*", text_lines[-1]):
                text_lines = text_lines[:-1]  # the next cue's SRT number
            turns = _cue_turns(text_lines)
            if not turns:
                empty.append(timing_line)
            for speaker, text in turns:
                segments.append(MoodSegment(start=start, end=end, speaker=speaker, text=text, line=timing_line))
            j = k
        i = block_end
    if stray:
        _warn_lines(src, stray, "text outside any cue ignored")
    if empty:
        _warn_lines(src, empty, "cue with no text skipped")
    if not segments:
        if empty:
            raise src.error(None, "no cue in the transcript has any text")
        raise src.error(1, "no cues found (no 'start --> end' timing lines): not a WebVTT or SRT transcript")
    return segments


def _warn_lines(src: _Source, lines: Sequence[int], message: str) -> None:
    shown = ", ".join(str(x) for x in lines[:_MAX_WARNINGS_PER_KIND])
    more = f" and {len(lines) - _MAX_WARNINGS_PER_KIND} more" if len(lines) > _MAX_WARNINGS_PER_KIND else ""
    word = "line" if len(lines) == 1 else "lines"
    src.warnings.append(f"{src.name}: {word} {shown}{more}: {message}")


# --------------------------------------------------------------------------- checks
def _check_times(src: _Source, segments: list[MoodSegment], duration: Optional[float]) -> list[MoodSegment]:
    """Order by time, drop exact duplicates, note overlaps, clip at the video's end."""
    out_of_order = [b.line for a, b in zip(segments, segments[1:]) if b.start < a.start]
    if out_of_order:
        _warn_lines(src, [x or 0 for x in out_of_order], "cue starts before the one above it; cues sorted by time")
    segments = sorted(segments, key=lambda s: (s.start, s.end))
    unique: list[MoodSegment] = []
    seen: set[tuple[float, float, Optional[str], str]] = set()
    dups: list[int] = []
    for seg in segments:
        key = (seg.start, seg.end, seg.speaker, seg.text)
        if key in seen:
            dups.append(seg.line or 0)
            continue
        seen.add(key)
        unique.append(seg)
    if dups:
        _warn_lines(src, dups, "duplicate of an earlier cue, skipped")
    zero = [s.line or 0 for s in unique if s.end == s.start]
    if zero:
        _warn_lines(src, zero, "cue lasts 0 s")
    overlaps: list[int] = []
    latest_end = -math.inf
    latest_speaker: Optional[str] = None
    for seg in unique:
        if seg.start < latest_end - 1e-6 and seg.speaker == latest_speaker:
            overlaps.append(seg.line or 0)
        if seg.end > latest_end:
            latest_end, latest_speaker = seg.end, seg.speaker
    if overlaps:
        _warn_lines(src, overlaps, "cue overlaps an earlier cue of the same speaker; both kept")
    if duration is None:
        return unique
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise TranscriptError(f"{src.name}: the video's duration ({duration!r}) is not a positive number")
    kept: list[MoodSegment] = []
    clipped: list[int] = []
    dropped: list[int] = []
    for seg in unique:
        if seg.start >= duration + END_TOLERANCE_S:
            raise src.error(
                seg.line,
                f"starts at {seg.start:.3f} s, after the video ends ({duration:.3f} s): "
                "is this the transcript for this video?",
            )
        if seg.start >= duration:
            dropped.append(seg.line or 0)
            continue
        if seg.end > duration:
            clipped.append(seg.line or 0)
            seg.end = float(duration)
        kept.append(seg)
    if clipped:
        _warn_lines(src, clipped, f"cue runs past the video's end ({duration:.3f} s); clipped")
    if dropped:
        _warn_lines(src, dropped, f"cue starts at the video's end ({duration:.3f} s); skipped")
    if not kept:
        raise src.error(None, "no cue lies within the video")
    speakers = {s.speaker for s in kept}
    if None in speakers and len(speakers) > 1:
        _warn_lines(src, [s.line or 0 for s in kept if s.speaker is None], "cue has no speaker label")
    return kept


# --------------------------------------------------------------------------- mood files
_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "start": ("start", "start_s", "start_time", "begin", "from", "onset", "t0", "start_sec"),
    "end": ("end", "end_s", "end_time", "stop", "to", "offset", "t1", "end_sec"),
    "mood": ("mood", "stated", "stated_mood", "label", "emotion", "feeling", "category"),
    "valence": ("valence", "stated_valence", "score"),
    "speaker": ("speaker", "who", "person", "role", "name"),
    "text": ("text", "words", "utterance", "transcript"),
}


def _column_role(name: str) -> Optional[str]:
    key = re.sub(r"[^a-z0-9_]", "", name.strip().lower().replace(" ", "_"))
    for role, names in _COLUMN_ALIASES.items():
        if key in names:
            return role
    return None


def _row_time(src: _Source, value: Any, line: int, what: str) -> float:
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise src.error(line, f"missing {what} time")
    if isinstance(value, (int, float)):
        t = float(value)
    else:
        try:
            t = float(str(value).strip())
        except ValueError:
            t = _parse_clock(src, str(value), line, strict_sep=".")
    if not math.isfinite(t) or t < 0:
        raise src.error(line, f"{what} time {value!r} is not a time in seconds")
    return t


def _mood_row(src: _Source, row: dict[str, Any], line: int) -> MoodSegment:
    """One mood-file row as a MoodSegment with its stated mood already read."""
    start = _row_time(src, row.get("start"), line, "start")
    end = _row_time(src, row.get("end"), line, "end")
    if end < start:
        raise src.error(line, f"end ({end:g} s) is before start ({start:g} s)")
    cells = [(k, row[k]) for k in ("valence", "mood") if row.get(k) not in (None, "")]
    if not cells:
        raise src.error(line, "no mood (a word such as 'fine' or 'anxious', or a valence from -1 to 1)")
    valence: Optional[float] = None
    category: Optional[str] = None
    for key, cell in cells:
        try:
            reading = mood_from_label(cell)
        except ValueError as exc:
            raise src.error(line, f"{key} {cell!r}: {exc}") from None
        if reading is None:
            raise src.error(
                line,
                f"{key} {cell!r} is not a mood cuewatch knows (use a word such as fine, sad, "
                "anxious, angry, calm, or a valence from -1 to 1)",
            )
        if valence is None or key == "valence":
            valence = reading[0]
        category = reading[1] if category is None or key == "mood" else category
    label = next((str(c) for k, c in cells if k == "mood"), str(cells[0][1]))
    speaker = row.get("speaker")
    speaker = str(speaker).strip() or None if speaker is not None else None
    text = str(row.get("text") or "").strip() or label
    return MoodSegment(start=start, end=end, speaker=speaker, text=text, valence=valence,
                       category=category, certainty=1.0, line=line)


def _parse_mood_csv(src: _Source) -> list[MoodSegment]:
    body = src.text
    first = next((l for l in src.lines if l.strip() and not l.lstrip().startswith("#")), "")
    counts = {d: first.count(d) for d in ",;\t|"}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    roles: Optional[list[Optional[str]]] = None
    headerless = False
    segments: list[MoodSegment] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if roles is None:
                try:
                    float(cells[0].strip())
                    is_header = False
                except ValueError:
                    is_header = not _CLOCK_RE.match(cells[0].strip())
                if is_header:
                    roles = [_column_role(c) for c in cells]
                    missing = [r for r in ("start", "end") if r not in roles]
                    if missing or not ({"mood", "valence"} & set(roles)):
                        raise src.error(
                            line,
                            f"the header ({', '.join(c.strip() for c in cells)}) needs columns "
                            "start, end and mood (or valence); speaker and text are optional",
                        )
                    continue
                roles = ["start", "end", "mood", "speaker", "text"]
                headerless = True
            if headerless and len(cells) > len(roles):
                raise src.error(line, "no header row and more than 5 columns: add a header (start,end,mood,speaker)")
            if len(cells) < 3:
                raise src.error(line, f"expected start, end and mood, found {len(cells)} field(s)")
            row = {r: c.strip() for r, c in zip(roles, cells) if r is not None}
            segments.append(_mood_row(src, row, line))
    except csv.Error as exc:
        raise src.error(reader.line_num, f"not valid CSV ({exc})") from None
    if not segments:
        raise src.error(None, "the mood file has no rows")
    return segments


def _json_rows(src: _Source) -> list[tuple[Any, int]]:
    """The row objects of a mood JSON file with the line each starts on."""
    text = src.text
    decoder = json.JSONDecoder()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise src.error(exc.lineno, f"not valid JSON ({exc.msg})") from None
    if isinstance(data, list):
        list_at = text.index("[")
    elif isinstance(data, dict):
        key = next((k for k in ("segments", "moods", "mood", "rows", "stated") if isinstance(data.get(k), list)), None)
        if key is None:
            raise src.error(1, "expected a list of rows, or an object with a 'segments' list")
        m = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
        if m is None:  # pragma: no cover - json.loads found it, so the text has it
            raise src.error(1, f"cannot locate the '{key}' list")
        list_at = m.end() - 1
    else:
        raise src.error(1, "expected a list of rows, or an object with a 'segments' list")
    rows: list[tuple[Any, int]] = []
    idx = list_at + 1
    ws = re.compile(r"[\s,]*")
    while True:
        gap = ws.match(text, idx)
        assert gap is not None  # [\s,]* matches the empty string anywhere
        idx = gap.end()
        if idx >= len(text) or text[idx] == "]":
            break
        obj, end = decoder.raw_decode(text, idx)
        rows.append((obj, text.count("\n", 0, idx) + 1))
        idx = end
    return rows


def _parse_mood_json(src: _Source) -> list[MoodSegment]:
    segments: list[MoodSegment] = []
    for obj, line in _json_rows(src):
        if not isinstance(obj, dict):
            raise src.error(line, "each row must be an object with start, end and mood")
        row: dict[str, Any] = {}
        for k, v in obj.items():
            role = _column_role(str(k))
            if role is not None and role not in row:
                row[role] = v
        segments.append(_mood_row(src, row, line))
    if not segments:
        raise src.error(None, "the mood file has no rows")
    return segments


# --------------------------------------------------------------------------- entry points
def _looks_like_srt(src: _Source) -> bool:
    """A cue number on the first line and a comma timing under it: SRT's shape."""
    lines = [l.strip() for l in src.lines if l.strip()][:2]
    return len(lines) == 2 and lines[0].isdigit() and "-->" in lines[1] and "," in lines[1]


def _sniff(src: _Source) -> Optional[str]:
    """'vtt', 'srt', 'json' or 'csv' from the content, or None."""
    head = src.text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if _looks_like_srt(src):
        return "srt"
    timing = next((l for l in src.lines if "-->" in l), None)
    if timing is not None:
        named_vtt = TRANSCRIPT_FORMAT_BY_SUFFIX.get(src.path.suffix.lower()) == "vtt"
        return "srt" if "," in timing and not named_vtt else "vtt"
    if head[:1] in "[{":
        try:
            json.loads(src.text)
            return "json"
        except json.JSONDecodeError:
            pass
    first = next((l for l in src.lines if l.strip() and not l.lstrip().startswith("#")), "")
    if re.search(r"start", first, re.IGNORECASE) and re.search(r"[,;\t|]", first):
        return "csv"
    return None


def _kind_for(src: _Source, allowed: Sequence[str]) -> str:
    ext = src.path.suffix.lower()
    by_ext = {**TRANSCRIPT_FORMAT_BY_SUFFIX, **MOOD_FORMAT_BY_SUFFIX}.get(ext)
    sniffed = _sniff(src)
    kind = by_ext
    if by_ext in ("vtt", "srt") and sniffed in ("vtt", "srt") and sniffed != by_ext:
        src.warn(None, f"named {ext} but holds {'WebVTT' if sniffed == 'vtt' else 'SRT'}; read as such")
        kind = sniffed
    elif by_ext is None:
        kind = sniffed
    if kind is None or kind not in allowed:
        names = {"vtt": "WebVTT", "srt": "SRT", "csv": "CSV", "json": "JSON"}
        expected = ", ".join(names[k] for k in allowed)
        raise src.error(1, f"not a {expected} file this reader understands")
    return kind


def load_transcript(path: str | Path, duration: Optional[float] = None) -> tuple[list[MoodSegment], list[str]]:
    """Segments (one per speaker turn of each cue) and the repairs made, from any supported file.

    WebVTT and SRT give unannotated utterances (stated_mood.annotate reads them); a CSV
    or JSON mood file gives rows whose mood is already read. ``duration`` (seconds) clips
    cues that run past the video's end and rejects ones that start after it.
    """
    src = _read_text(path, "transcript")
    kind = _kind_for(src, ("vtt", "srt", "csv", "json"))
    if kind in ("csv", "json"):
        segments = _parse_mood_csv(src) if kind == "csv" else _parse_mood_json(src)
    else:
        segments = _parse_cues(src, kind)
    return _check_times(src, segments, duration), src.warnings


def load_mood_file(path: str | Path, duration: Optional[float] = None) -> tuple[list[MoodSegment], list[str]]:
    """Rows of a CSV or JSON mood file (start, end, mood word or valence, optional speaker)."""
    src = _read_text(path, "mood file")
    kind = _kind_for(src, ("csv", "json"))
    segments = _parse_mood_csv(src) if kind == "csv" else _parse_mood_json(src)
    return _check_times(src, segments, duration), src.warnings
