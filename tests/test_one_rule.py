"""One rule, one place: rules that had drifted apart now have one home each."""

from __future__ import annotations

import numpy as np

from cuewatch.domain import MoodSegment, Recording, is_client_speaker
from cuewatch.exports import ExportBundle
from cuewatch.expression.series import ExpressionSeries, ExpressionSettings
from cuewatch.faces.client_face import client_segments
from cuewatch.flags.incongruence import PRESETS, flags_for_series
from cuewatch.formats import AU_NAMES, EXPRESSION_CATEGORIES

PROV = {"cuewatch_version": "0", "model_sha256": None, "parameters": {},
        "rules": {}, "created": "2024-05-01T10:00:00+00:00"}


def _lines() -> list[MoodSegment]:
    return [MoodSegment(0.0, 2.0, "CLIENT", "I'm great", 0.8, "happy", 0.9),
            MoodSegment(2.0, 4.0, None, "I'm great", 0.8, "happy", 0.9),
            MoodSegment(4.0, 6.0, "Therapist", "I'm great", 0.8, "happy", 0.9),
            MoodSegment(6.0, 8.0, "client ", "I'm great", 0.8, "happy", 0.9)]


def _frowning(seconds: float, fps: float = 15.0) -> ExpressionSeries:
    n = int(seconds * fps)
    scores = np.zeros((n, len(EXPRESSION_CATEGORIES)), np.float32)
    scores[:, EXPRESSION_CATEGORIES.index("angry")] = 0.8
    au = np.zeros((n, len(AU_NAMES)), np.float32)
    return ExpressionSeries(
        timestamps=np.arange(n) / fps, au=au, scores=scores, valence=np.full(n, -0.8, np.float32),
        arousal=np.full(n, 0.5, np.float32), confidence=np.full(n, 0.9, np.float32),
        dominant=scores.argmax(1).astype(np.int8), drivers=np.full((n, 3), -1, np.int16),
        driver_weights=np.zeros((n, 3), np.float32), au_raw=au, neutral=None,  # type: ignore[arg-type]
        settings=ExpressionSettings())


def test_whose_lines_are_the_clients_is_one_rule_in_flags_faces_and_exports() -> None:
    lines = _lines()
    expected = [0.0, 6.0]  # case and spacing ignored; unlabelled and therapist lines are not
    assert [s.start for s in lines if is_client_speaker(s.speaker, "Client")] == expected
    assert [s.start for s in client_segments(lines, "Client")] == expected
    flags = flags_for_series(_frowning(8.0), lines, "Client", 0, PRESETS["medium"])
    assert sorted({f.evidence["utterance_start"] for f in flags}) == expected
    bundle = ExportBundle(recording=Recording(path="r.mp4", sha256="0" * 64, duration=8.0),
                          media_path="r.mp4", provenance=PROV, segments=lines,
                          client_speaker="Client")
    assert [s.start for s in bundle.client_segments()] == expected
    assert bundle.speaker_label("client ", anonymise=True) == "client"


def test_without_speaker_labels_every_line_is_the_clients() -> None:
    lines = [MoodSegment(0.0, 2.0, None, "I'm great", 0.8, "happy", 0.9)]
    assert client_segments(lines, None) == lines
    assert flags_for_series(_frowning(2.0), lines, None, 0, PRESETS["medium"])
    bundle = ExportBundle(recording=Recording(path="r.mp4", sha256="0" * 64, duration=2.0),
                          media_path="r.mp4", provenance=PROV, segments=lines)
    assert bundle.client_segments() == lines


def test_one_file_hash_for_recordings_the_model_and_the_store(tmp_path) -> None:
    import hashlib

    from cuewatch.faces import model
    from cuewatch.features.keys import content_sha256
    from cuewatch.progress import Progress
    from cuewatch.project import recordings as recordings_module

    f = tmp_path / "clip.bin"
    f.write_bytes(b"cuewatch" * 1000)
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    assert content_sha256(f) == recordings_module.content_hash(f) == want
    assert not hasattr(model, "file_sha256") and model.content_sha256 is content_sha256
    seen: list[float] = []
    assert content_sha256(f, Progress(lambda x, _m: seen.append(x))) == want
    assert seen == [1.0]  # remembered, and the caller still sees it finish
    f.write_bytes(b"changed, and longer than before")
    assert content_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path) -> None:
    import pytest

    from cuewatch.domain import Flag
    from cuewatch.outputs.flags_files import write_flags_csv

    target = tmp_path / "flags.csv"
    target.write_text("old\n")
    broken = Flag(start=0.0, end=1.0, type="incongruence", track=0, stated={}, expressed={},
                  severity=0.5, confidence=0.5, evidence={"peak_time": "not a number"})
    with pytest.raises(ValueError):
        write_flags_csv(target, [broken], PROV)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flags.csv", "flags.csv.provenance.json"]


def test_files_are_replaced_only_through_cuewatch_files() -> None:
    """Atomic writes have one home (cuewatch.files); no stage rolls its own."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    own = re.compile(r"os\.replace\(|\.replace\((tmp|path|target)|\.tmp[\"']|mkstemp\(")
    offenders = [f"{py.relative_to(root)}:{n}" for folder in ("cuewatch", "ui")
                 for py in sorted((root / folder).rglob("*.py")) if py.name != "files.py"
                 for n, line in enumerate(py.read_text().splitlines(), 1) if own.search(line)]
    assert offenders == []  # the app log rotates in logging.handlers (cuewatch_ui.app_log)


def test_one_box_inside_box_rule_for_finding_and_tracking() -> None:
    from cuewatch.faces import finding, tracking

    big, small, apart = (np.array(b, float) for b in ([0, 0, 100, 100], [40, 40, 60, 60],
                                                       [90, 90, 200, 200]))
    assert finding.centre_inside(small, big) and not finding.centre_inside(big, [0, 0, 40, 40])
    assert not finding.centre_inside(apart, big)
    assert tracking.centre_inside is finding.centre_inside
    assert not hasattr(tracking, "_center_in") and not hasattr(finding, "_inside")


def test_category_polarity_and_the_neutral_band_have_one_home() -> None:
    from cuewatch.exports import timeline_image
    from cuewatch.expression.series import ExpressionSettings
    from cuewatch.flags import incongruence
    from cuewatch.formats import CATEGORY_POLARITY, NEGATIVE_CATEGORIES, NEUTRAL_BAND
    from cuewatch.words import stated_mood

    assert incongruence._NEGATIVE_CATS == NEGATIVE_CATEGORIES
    assert all(stated_mood._category_sign(c) == p for c, p in CATEGORY_POLARITY.items())
    assert ExpressionSettings().neutral_valence == NEUTRAL_BAND
    # the exported picture reads a mild "I guess I'm okay" as the words do: no side stated
    mild = NEUTRAL_BAND * 0.8
    assert stated_mood.polarity(mild) == "neu"
    assert timeline_image._mood_colour(mild) == timeline_image._NEU
    assert timeline_image._mood_colour(NEUTRAL_BAND) == timeline_image._POS


def test_the_app_and_the_exports_read_one_colour_table() -> None:
    from cuewatch.exports import html, timeline_image
    from cuewatch.formats import COLOURS, colour_rgb
    from cuewatch_ui import qt_timeline

    for kind in ("incongruence", "leak"):
        assert qt_timeline.FLAG_COLOURS[kind].name() == COLOURS[kind]
        assert timeline_image._FLAG[kind] == colour_rgb(kind)[::-1]  # OpenCV is BGR
        assert COLOURS[kind] in html._legend()
    assert qt_timeline.POSITIVE.name() == COLOURS["stated_positive"]
    assert timeline_image._POS == colour_rgb("stated_positive")[::-1]
    assert qt_timeline.VALENCE_CURVE.name() == COLOURS["expressed_valence"]
    assert timeline_image._CURVE == colour_rgb("expressed_valence")[::-1]


def test_no_dead_top_level_code() -> None:
    """Every top-level function, class and constant of the core and the app is used
    somewhere (the code, the tests or the benchmarks), besides its own definition."""
    import ast
    import re
    from collections import Counter
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    texts = {p: p.read_text() for folder in ("cuewatch", "ui", "tests", "benchmarks")
             for p in (root / folder).rglob("*.py")}
    words = Counter(w for t in texts.values() for w in re.findall(r"\w+", t))
    public_api = {"write_bytes_atomic"}  # cuewatch.files' helper for binary files
    unused = []
    for path, text in texts.items():
        if path.parts[len(root.parts)] not in ("cuewatch", "ui"):
            continue
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if words[name] <= 1 and name not in public_api:
                    unused.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert unused == []
