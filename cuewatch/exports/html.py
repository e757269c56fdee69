"""``cuewatch export --format html``: one self-contained report for a supervisor.

``cuewatch_report.html`` holds every recording: its timeline as a picture (stated mood,
expressed valence, flags, gaps), then each flag with a thumbnail of its clearest frame
(the evidence peak), the client's words, stated versus expressed mood, the evidence and
every reviewer's verdict and the trainee's response to it; the manual annotations, the
attunement (the session summary, as ``cuewatch review --attunement`` prints it, and the
synchrony over time as an inline SVG plot), agreement when given, and the provenance. Images are inline base64 PNGs and a Content-Security-Policy forbids any
fetch, script or external style: the file can be mailed or archived and opens alone.
Every text from users or files is HTML-escaped. The report says once, at the top, that
cuewatch is a training aid, not a diagnosis; anonymised, it says right below exactly what
was done (the provenance's ``anonymisation`` statements). Agreement is a table of
reviewer pairs and the evidence is labelled in words (``describe.EVIDENCE_LABELS``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html as _html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

from cuewatch import __version__
from cuewatch.attunement.summary import summary_lines
from cuewatch.domain import Flag
from cuewatch.errors import CuewatchError
from cuewatch.exports import ExportBundle, prepare, unique_labels
from cuewatch.exports.anonymise import ANONYMISATION_KEY
from cuewatch.exports.describe import (
    clock,
    evidence_aus,
    evidence_items,
    expressed_text,
    peak_time,
    response_text,
    segment_mood_text,
    stated_text,
)
from cuewatch.exports.faceblur import blur_faces_at, require_tracks
from cuewatch.exports.naming import path_in
from cuewatch.exports.timeline_image import render_timeline
from cuewatch.files import write_text_atomic
from cuewatch.formats import COLOURS
from cuewatch.progress import Progress
from cuewatch.provenance import provenance_items

HTML_REPORT_NAME = "cuewatch_report.html"
HTML_REPORT_VERSION = 1
TRAINING_AID_NOTICE = (
    "cuewatch is a training aid, not a diagnosis. A flag marks a moment where the face "
    "and the stated mood seem to part, for a trainee and supervisor to look at together; "
    "it says nothing certain about what the client feels.")
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
THUMBNAIL_WIDTH = 320

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1060px;padding:16px;color:#222}
.notice{background:#fff4d6;border:1px solid #e0c36a;padding:8px 12px;border-radius:4px}
section.recording{border-top:3px solid #444;margin-top:28px}
figure{margin:8px 0}figure img{max-width:100%;border:1px solid #ddd}
article.flag{display:flex;gap:16px;border:1px solid #ddd;border-radius:4px;padding:10px;margin:12px 0}
article.flag .thumb{flex:0 0 auto}article.flag .body{flex:1 1 auto;min-width:0}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
blockquote{margin:4px 0;padding:4px 10px;border-left:3px solid #999;background:#f6f6f6}
.agree{color:#27632a}.disagree{color:#a12020}.unsure{color:#7a5b00}
dl.prov dt{font-weight:bold}dl.prov dd{margin:0 0 4px 16px;word-break:break-all;font-family:monospace}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}
"""


def esc(value: Any) -> str:
    """HTML-escaped text of anything (quotes too, so it is safe in attributes)."""
    return _html.escape("" if value is None else str(value), quote=True)


def png_data_uri(image_bgr: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise CuewatchError("could not encode an image for the report")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def thumbnail(bundle: ExportBundle, t: float, tracks: Optional[dict]) -> Optional[np.ndarray]:
    """The frame at ``t``, faces blurred when ``tracks`` are given, THUMBNAIL_WIDTH wide."""
    from cuewatch.media.video import read_frame_at

    if not bundle.media_path.is_file():
        return None
    frame = read_frame_at(bundle.media_path, t)
    bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    if tracks is not None:
        blur_faces_at(bgr, tracks, frame.timestamp)
    scale = THUMBNAIL_WIDTH / bgr.shape[1]
    return cv2.resize(bgr, (THUMBNAIL_WIDTH, max(1, int(round(bgr.shape[0] * scale)))),
                      interpolation=cv2.INTER_AREA)


def _verdicts_html(bundle: ExportBundle, flag: Flag) -> str:
    current = bundle.current_reviews(flag)
    if not current:
        return "<p>No verdicts yet.</p>"
    rows = "".join(
        f'<tr><td>{esc(r.reviewer)}</td><td class="{esc(r.verdict)}">{esc(r.verdict)}</td>'
        f"<td>{esc(r.note)}</td><td>{esc(r.time)}</td></tr>" for r in current)
    out = f"<table><tr><th>reviewer</th><th>verdict</th><th>note</th><th>when</th></tr>{rows}</table>"
    history = bundle.review_history(flag)
    if history:
        rows = "".join(f"<tr><td>{esc(r.reviewer)}</td><td>{esc(r.verdict)}</td>"
                       f"<td>{esc(r.note)}</td><td>{esc(r.time)}</td></tr>" for r in history)
        out += (f"<details><summary>{len(history)} earlier verdict(s)</summary><table>"
                f"<tr><th>reviewer</th><th>verdict</th><th>note</th><th>when</th></tr>{rows}</table></details>")
    return out


def _words(bundle: ExportBundle, flag: Flag) -> str:
    words = flag.stated.get("words")
    if words:
        return str(words)
    start = flag.evidence.get("utterance_start", flag.start)
    for seg in bundle.client_segments():
        if seg.start <= float(start) < seg.end or (seg.start < flag.end and seg.end > flag.start):
            return seg.text
    return ""


def _flag_html(bundle: ExportBundle, i: int, label: str, tracks: Optional[dict],
               with_thumbnails: bool) -> str:
    flag = bundle.flags[i]
    key = bundle.flag_key(i)
    peak = peak_time(flag)
    thumb = ""
    if with_thumbnails:
        image = thumbnail(bundle, peak, tracks)
        thumb = (f'<img src="{png_data_uri(image)}" alt="frame at {esc(clock(peak))}" width="{image.shape[1]}">'
                 if image is not None else "<p>(no thumbnail: video not found)</p>")
    words = _words(bundle, flag)
    aus = evidence_aus(flag)
    au_rows = "".join(f"<tr><td>{esc(n)}</td><td>{v:.2f}</td></tr>" for n, v in aus)
    other_rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>"
                         for k, v in evidence_items(flag))
    return f"""
<article class="flag" id="{esc(f'flag-{label}-{key}')}">
<div class="thumb">{thumb}</div>
<div class="body">
<h3>Flag #{esc(key)}: {esc(flag.type)}, {esc(clock(flag.start))}&ndash;{esc(clock(flag.end))}</h3>
{f'<blockquote>&ldquo;{esc(words)}&rdquo;</blockquote>' if words else ''}
<table>
<tr><th>stated</th><td>{esc(stated_text(flag))}</td></tr>
<tr><th>expressed</th><td>{esc(expressed_text(flag))}</td></tr>
<tr><th>severity</th><td>{float(flag.severity):.2f}</td></tr>
<tr><th>confidence</th><td>{float(flag.confidence):.2f}</td></tr>
<tr><th>clearest frame</th><td>{esc(clock(peak))}</td></tr>
{_response_row(bundle, flag)}
</table>
<h4>Evidence</h4>
{f'<table><tr><th>action unit</th><th>intensity</th></tr>{au_rows}</table>' if au_rows else ''}
{f'<table>{other_rows}</table>' if other_rows else ''}
<h4>Verdicts</h4>
{_verdicts_html(bundle, flag)}
</div>
</article>"""


def _response_row(bundle: ExportBundle, flag: Flag) -> str:
    response = bundle.response(flag)
    if response is None:
        return ""
    return f"<tr><th>trainee&rsquo;s response</th><td>{esc(response_text(response))}</td></tr>"


#: the synchrony plot's size in pixels (an inline SVG: no image library, no script).
SYNCHRONY_PLOT_SIZE = (640, 120)


def _synchrony_svg(over_time: Sequence[tuple[float, float]]) -> str:
    """Synchrony over time (each window's peak correlation, -1..1) as an inline SVG line;
    windows without a value break the line."""
    points = [(float(t), float(r)) for t, r in over_time]
    if not any(math.isfinite(r) for _, r in points):
        return ""
    w, h = SYNCHRONY_PLOT_SIZE
    t0, t1 = points[0][0], max(points[-1][0], points[0][0] + 1e-9)
    def xy(t: float, r: float) -> str:
        return f"{(t - t0) / (t1 - t0) * (w - 2) + 1:.1f},{(1 - (r + 1) / 2) * (h - 2) + 1:.1f}"
    runs: list[list[str]] = [[]]
    for t, r in points:
        if math.isfinite(r):
            runs[-1].append(xy(t, r))
        elif runs[-1]:
            runs.append([])
    lines = "".join(f'<polyline fill="none" stroke="{COLOURS["expressed_valence"]}" stroke-width="1.5" '
                    f'points="{" ".join(run)}"/>' for run in runs if run)
    zero = f'<line x1="0" x2="{w}" y1="{h / 2:.1f}" y2="{h / 2:.1f}" stroke="#bbb"/>'
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'role="img" aria-label="synchrony over time">{zero}{lines}</svg>'
            f"<figcaption>Synchrony over time: each window&rsquo;s peak correlation of the two "
            f"faces (-1 to 1; the grey line is 0), {esc(clock(t0))}&ndash;{esc(clock(t1))}."
            f"</figcaption></figure>")


def _attunement_html(bundle: ExportBundle) -> str:
    """The session summary (the same lines as ``cuewatch review --attunement``) and the
    synchrony over time."""
    if not bundle.has_attunement():
        return ""
    summary = bundle.attunement_summary()
    lines = summary_lines(summary, bundle.flags, bundle.responses)
    items = "".join(f"<li>{esc(line.strip())}</li>" for line in lines)
    plot = _synchrony_svg(bundle.synchrony.over_time) if bundle.synchrony is not None else ""
    return f"<h3>Attunement</h3><ul class=\"attunement\">{items}</ul>{plot}"


def _provenance_html(provenance: dict) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in provenance_items(provenance))
    return f'<h3>Provenance</h3><dl class="prov">{items}</dl>'


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f}"


def _share(value: Any) -> str:
    return "n/a" if value is None else f"{100.0 * float(value):.0f}%"


def _agreement_html(agreement: Optional[dict]) -> str:
    """Cohen's kappa per pair of raters (the tool is one), as a table people read."""
    if not agreement:
        return ""
    pairs = agreement.get("pairs") or []
    reviewers = ", ".join(str(r) for r in agreement.get("reviewers") or []) or "none yet"
    tool = agreement.get("tool")
    intro = (f"<p>{esc(agreement.get('n_flags', 0))} flag(s); reviewers: {esc(reviewers)}"
             + (f"; the tool ({esc(tool)}) counts as a rater: it agrees with the flags it "
                "raised confidently and is unsure of the rest" if tool else "") + ".</p>")
    if not pairs:
        return f"<h3>Agreement</h3>{intro}<p>No flag has been judged by two raters yet.</p>"
    rows = "".join(
        f"<tr><td>{esc(p.get('a'))} / {esc(p.get('b'))}</td><td>{esc(p.get('n'))}</td>"
        f"<td>{_number(p.get('kappa'))}</td>"
        f"<td>{_share(p.get('observed'))}</td><td>{_share(p.get('expected'))}</td>"
        f"<td>{esc(p.get('note') or '')}</td></tr>" for p in pairs)
    return (f"<h3>Agreement</h3>{intro}<table><tr><th>raters</th><th>flags judged by both</th>"
            f"<th>Cohen&rsquo;s kappa</th><th>agreed</th><th>agreement expected by chance</th>"
            f"<th>note</th></tr>{rows}</table>")


def _anonymisation_html(bundles: list[ExportBundle]) -> str:
    """Exactly what anonymising did, from the provenance it recorded."""
    statements: list[str] = []
    for bundle in bundles:
        for text in (bundle.provenance.get(ANONYMISATION_KEY) or {}).values():
            if text not in statements:
                statements.append(str(text))
    statements.append("this report holds still images only: no video and no sound")
    items = "".join(f"<li>{esc(t)}</li>" for t in statements)
    return f'<div class="notice" role="note"><strong>Anonymised:</strong><ul>{items}</ul></div>'




#: the timeline picture's legend: (colour of ``cuewatch.formats.COLOURS``, what it means).
_LEGEND = (("stated_positive", "stated positive"), ("stated_negative", "stated negative"),
           ("stated_neutral", "neutral / none"), ("expressed_valence", "expressed valence"),
           ("incongruence", "incongruence"), ("leak", "leak"), ("face_not_seen", "face not seen"))


def _legend() -> str:
    return "\n".join(f'<span><i class="sw" style="background:{COLOURS[key]}"></i>{esc(text)}</span>'
                     for key, text in _LEGEND)


def _recording_html(bundle: ExportBundle, label: str, anonymise: bool, with_thumbnails: bool) -> str:
    tracks = require_tracks(bundle, "the report's thumbnails") if (anonymise and with_thumbnails and bundle.flags) else None
    keys = [bundle.flag_key(i) for i in range(len(bundle.flags))]
    timeline = render_timeline(bundle.recording.duration, client_segments=bundle.client_segments(),
                               flags=bundle.flags, flag_labels=[f"#{k}" for k in keys],
                               gaps=bundle.gaps, valence_curve=bundle.valence_curve)
    order = sorted(range(len(bundle.flags)), key=lambda i: bundle.flags[i].start)
    flags_html = "".join(_flag_html(bundle, i, label, tracks, with_thumbnails) for i in order) or "<p>No flags.</p>"
    reviewers = bundle.reviewers()
    ann_rows = "".join(
        f"<tr><td>{esc(clock(a.start))}&ndash;{esc(clock(a.end))}</td><td>{esc(a.label)}</td>"
        f"<td>{esc(a.note)}</td><td>{esc(a.reviewer)}</td></tr>"
        for a in sorted(bundle.annotations, key=lambda a: a.start))
    gap_rows = "".join(f"<tr><td>{esc(clock(g.start))}&ndash;{esc(clock(g.end))}</td><td>{esc(g.reason)}</td></tr>"
                       for g in sorted(bundle.gaps, key=lambda g: g.start))
    moods = "".join(f"<tr><td>{esc(clock(s.start))}</td><td>{esc(s.text)}</td><td>{esc(segment_mood_text(s))}</td></tr>"
                    for s in bundle.client_segments())
    rec = bundle.recording
    return f"""
<section class="recording" id="{esc('rec-' + label)}">
<h2>{esc(label)}</h2>
<p>{esc(clock(rec.duration))} long; {len(bundle.flags)} flag(s), {len(bundle.gaps)} gap(s) where the
client's face was not seen; reviewers: {esc(', '.join(reviewers) or 'none yet')}.</p>
<figure><img src="{png_data_uri(timeline)}" alt="timeline of {esc(label)}" width="{timeline.shape[1]}">
<figcaption class="legend">{_legend()}</figcaption></figure>
<h3>Flags</h3>
{flags_html}
{f'<h3>Manual annotations</h3><table><tr><th>when</th><th>label</th><th>note</th><th>by</th></tr>{ann_rows}</table>' if ann_rows else ''}
{f'<h3>Where the face was not seen</h3><table>{gap_rows}</table>' if gap_rows else ''}
{f'<details><summary>The client&rsquo;s words and stated mood</summary><table>{moods}</table></details>' if moods else ''}
{_attunement_html(bundle)}
{_agreement_html(bundle.agreement)}
{_provenance_html(bundle.provenance)}
</section>"""


def render_report(bundles: list[ExportBundle], labels: list[str], *, anonymise: bool,
                  with_thumbnails: bool = True, progress: Optional[Progress] = None) -> str:
    """The whole report as one HTML string."""
    progress = progress or Progress()
    parts = []
    for n, (bundle, label) in enumerate(zip(bundles, labels)):
        progress.check()
        parts.append(_recording_html(bundle, label, anonymise, with_thumbnails))
        progress.report((n + 1) / max(1, len(bundles)), f"html: {label}")
    created = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    index = "".join(f'<li><a href="#{esc("rec-" + l)}">{esc(l)}</a></li>' for l in labels)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="generator" content="cuewatch {esc(__version__)} (report v{HTML_REPORT_VERSION})">
<title>cuewatch review report</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>cuewatch review report</h1>
<p class="notice" role="note"><strong>Training aid, not a diagnosis.</strong> {esc(TRAINING_AID_NOTICE)}</p>
<p>Made {esc(created)} by cuewatch {esc(__version__)}.</p>
{_anonymisation_html(bundles) if anonymise else ''}
<ul>{index}</ul>
</header>
<main>{''.join(parts)}</main>
</body>
</html>
"""


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None, thumbnails: bool = True) -> list[Path]:
    """Write ``cuewatch_report.html`` covering every recording."""
    bundles, out_dir, progress = prepare(bundles, out_dir, progress)
    labels = unique_labels(bundles, anonymise)
    text = render_report(bundles, labels, anonymise=anonymise, with_thumbnails=thumbnails,
                         progress=progress)
    return [write_text_atomic(path_in(out_dir, HTML_REPORT_NAME), text)]
