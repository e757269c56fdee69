#!/usr/bin/env python3
"""Build a held-out incongruence evaluation set "the same way" as ../shared/eval.

The development set (../shared/eval) is five role-plays; tuning against it alone could fit
it. This builds other role-plays from the same licensed real faces (../shared/media) with
other people as client (CREMA-D 1001, the RAVDESS actor, the Pexels woman in her real
continuous clip), other layouts (single 640x480 and 640x360; two-person 1280x720 and
1920x1080 with small faces, client on the left or the right, a different person as the
listener who talks now and then) and new client sentences (everyday wording, hedges,
negations, idioms, plain accounts). Each case is NAME.mp4, NAME.vtt and NAME.truth.json
in the development set's format, scored by its own score_flags.py.

How the development set was made (read from its videos with cv2): a client turn plays one
CREMA-D clip in full, resampled to 25 fps; during a therapist turn the client's panel holds
a still of the first frame of the next client clip; two-person shots put the client's
clip and the listener's clip as panels on a plain background.

Truth labels are human judgements, set here by hand and independent of cuewatch: the face
label is the dataset's perceived label (CREMA-D crowd ratings: ANG angry, DIS angry,
FEA disgusted, HAP happy, NEU neutral, SAD neutral; RAVDESS 07 disgust; the Pexels woman
hand-labelled: crying 0.5-6 s, surprise/thinking 6-10.5 s, smiling 10.5-19.7 s); the
stated valence is what a careful reader takes the words to state. A turn is incongruent
when one of the two is positive and the other negative.

The built media are not committed (the sources' licences: see ../shared/media/README.md).
Usage: python benchmarks/build_cases.py [--out DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import cv2
import imageio_ffmpeg
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared")) / "media"
FPS = 25.0
SR = 16000
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()

CREMA = {k: f"crema_d/1001_DFA_{k}_XX.flv" for k in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")}
#: perceived label (face-only crowd ratings) -> (face, face_valence)
CREMA_FACE = {"ANG": ("angry", "neg"), "DIS": ("angry", "neg"), "FEA": ("disgusted", "neg"),
              "HAP": ("happy", "pos"), "NEU": ("neutral", "neu"), "SAD": ("neutral", "neu")}
RAVDESS = "ravdess/01-01-07-02-02-01-01.mp4"
PEXELS = "pexels/WolfgangLanger_Pexels.mp4"


# --------------------------------------------------------------------------- sources
@dataclass
class Source:
    """One real clip: frames (BGR), fps and mono audio at SR."""
    path: str
    frames: list
    fps: float
    audio: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps

    def frame_at(self, t: float) -> np.ndarray:
        i = int(round(t * self.fps))
        return self.frames[min(max(i, 0), len(self.frames) - 1)]


_SOURCES: dict[tuple, Source] = {}


def source(rel: str, crop: Optional[tuple] = None, mirror: bool = False) -> Source:
    key = (rel, crop, mirror)
    if key in _SOURCES:
        return _SOURCES[key]
    path = MEDIA / rel
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if crop:
            y0, y1, x0, x1 = crop
            f = f[y0:y1, x0:x1]
        if mirror:
            f = cv2.flip(f, 1)
        frames.append(np.ascontiguousarray(f))
    cap.release()
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(SR),
                          "-f", "s16le", "-"], capture_output=True).stdout
    audio = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    _SOURCES[key] = Source(rel, frames, fps, audio)
    return _SOURCES[key]


#: Optional: the RAVDESS samples shipped in the ``pyfame==1.0.10`` sdist (two more takes of
#: actor 01 and two of a second actor, a woman), for cases with people the development set
#: never shows. Not in ../shared; fetch with
#:   pip download --no-deps --no-binary :all: pyfame==1.0.10 && tar xzf pyfame-1.0.10.tar.gz
#: and pass --pyfame pyfame-1.0.10/src/pyfame/data/sample. The package renames the clips,
#: so their faces are labelled here by eye (RAVDESS, CC BY-NC-SA 4.0).
PYFAME: dict[str, tuple[str, str, str]] = {
    # key: (file, face, face_valence)
    "m_calm": ("01/sample_01.mp4", "neutral", "neu"),      # relaxed, speaking
    "m_disgust": ("01/sample_02.mp4", "disgusted", "neg"),  # nose wrinkle, upper lip, squint
    "f_calm": ("02/sample_03.mp4", "neutral", "neu"),      # lips pressed, otherwise at rest
    "f_fear": ("02/sample_04.mp4", "fearful", "neg"),       # eyes wide, brows up, lips stretched
}
_PYFAME_DIR: list[Path] = []


def pyfame(key: str) -> Source:
    """A pyfame RAVDESS clip, cropped to the square around the face (1280x720 -> 720x720)."""
    return source(str(_PYFAME_DIR[0] / PYFAME[key][0]), crop=(0, 720, 280, 1000))


def pt(key: str, stated: str, words: str):
    """A client turn playing one whole pyfame clip, labelled with its face."""
    _file, face, fval = PYFAME[key]
    return (pyfame(key), face, fval, stated, words, 0.0, None)


def crema(k: str, mirror: bool = False) -> Source:
    return source(CREMA[k], mirror=mirror)


def ravdess() -> Source:
    return source(RAVDESS, crop=(60, 420, 0, 640))  # drop the letterbox


def pexels() -> Source:
    return source(PEXELS)


def frames_dur(src: Source) -> float:
    """A source's length rounded to whole output frames (as the dev set's turn lengths)."""
    return round(src.duration * FPS) / FPS


# --------------------------------------------------------------------------- timeline
@dataclass
class Span:
    """What a panel shows from t0 to t1: `src` played from src_t0 (or held still)."""
    t0: float
    t1: float
    src: Source
    src_t0: float = 0.0
    still: bool = False
    loop: bool = False
    audible: bool = True


@dataclass
class Panel:
    scale: float
    x: int
    y: int
    spans: list = field(default_factory=list)

    def image(self, t: float) -> Optional[np.ndarray]:
        span = next((s for s in self.spans if s.t0 <= t < s.t1), None)
        if span is None:
            span = min(self.spans, key=lambda s: min(abs(t - s.t0), abs(t - s.t1)))
            st = span.src_t0
        elif span.still:
            st = span.src_t0
        else:
            st = span.src_t0 + (t - span.t0)
            if span.loop:
                st %= span.src.duration
        return span.src.frame_at(st)


@dataclass
class Case:
    name: str
    width: int
    height: int
    client_face: str
    panels: list
    cues: list            # (start, end, speaker, text)
    segments: list        # truth segments (client turns)
    dont_care: list
    duration: float
    background: tuple = (52, 56, 60)
    note: str = ""


def render(case: Case, out: Path) -> None:
    n = int(round(case.duration * FPS))
    W, H = case.width, case.height
    bg = np.zeros((H, W, 3), np.uint8)
    bg[:] = case.background
    resized: dict = {}
    audio = np.zeros(int(case.duration * SR) + SR, np.float32)
    for p in case.panels:
        for s in p.spans:
            if s.still or not s.audible:
                continue
            a0, a1 = int(s.t0 * SR), int(s.t1 * SR)
            length = a1 - a0
            start = int(s.src_t0 * SR)
            if s.loop:
                idx = (start + np.arange(length)) % max(1, len(s.src.audio))
                chunk = s.src.audio[idx] if len(s.src.audio) else np.zeros(length, np.float32)
            else:
                chunk = s.src.audio[start:start + length]
            audio[a0:a0 + len(chunk)] += chunk
    wav = out / f".{case.name}.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(audio[: int(case.duration * SR)], -1, 1) * 32767).astype(np.int16).tobytes())
    proc = subprocess.Popen(
        [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{W}x{H}",
         "-r", str(int(FPS)), "-i", "-", "-i", str(wav), "-c:v", "libx264", "-preset", "veryfast",
         "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest",
         "-movflags", "+faststart", str(out / f"{case.name}.mp4")],
        stdin=subprocess.PIPE)
    for k in range(n):
        t = k / FPS
        if len(case.panels) == 1 and case.panels[0].scale is None:
            img = case.panels[0].image(t)
            frame = img if img.shape[:2] == (H, W) else cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
        else:
            frame = bg.copy()
            for p in case.panels:
                img = p.image(t)
                key = (id(img), p.scale)
                if key not in resized:
                    resized[key] = cv2.resize(img, None, fx=p.scale, fy=p.scale, interpolation=cv2.INTER_AREA)
                small = resized[key]
                h, w = small.shape[:2]
                frame[p.y:p.y + h, p.x:p.x + w] = small
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"ffmpeg failed on {case.name}")
    wav.unlink()


def ts(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def write_case(case: Case, out: Path) -> None:
    render(case, out)
    lines = ["WEBVTT", ""]
    for i, (a, b, who, text) in enumerate(case.cues, 1):
        lines += [str(i), f"{ts(a)} --> {ts(b)}", f"<v {who}>{text}", ""]
    (out / f"{case.name}.vtt").write_text("\n".join(lines))
    truth = {"video": f"{case.name}.mp4", "transcript": f"{case.name}.vtt",
             "client_face": case.client_face, "duration": round(case.duration, 3)}
    if case.note:
        truth["note"] = case.note
    truth["segments"] = case.segments
    truth["dont_care"] = case.dont_care
    truth["events"] = [{"start": s["start"], "end": s["end"]} for s in case.segments if s["incongruent"]]
    (out / f"{case.name}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")


def incongruent(face_valence: Optional[str], stated: Optional[str]) -> bool:
    return {face_valence, stated} == {"pos", "neg"}


# --------------------------------------------------------------------------- dialogues
@dataclass
class Layout:
    """Where the client and the listener sit; panel=None means the frame is the client."""
    width: int
    height: int
    client_side: str                 # "only", "left" or "right"
    client_scale: Optional[float]    # None: resize the client's frame to the canvas
    listener: Optional[Source] = None
    listener_scale: float = 0.0
    listener_mode: str = "therapist"  # "therapist": talks in therapist turns; "loop": always moving
    background: tuple = (52, 56, 60)
    client_offset: tuple = (0, 0)    # x, y used for a single-face canvas with a border


def place(layout: Layout, client_src: Source) -> tuple[Panel, Optional[Panel]]:
    W, H = layout.width, layout.height
    if layout.client_side == "only":
        if layout.client_scale is None:
            return Panel(None, 0, 0), None
        return Panel(layout.client_scale, *layout.client_offset), None
    ch, cw = (int(d * layout.client_scale) for d in client_src.frames[0].shape[:2])
    lh, lw = (int(d * layout.listener_scale) for d in layout.listener.frames[0].shape[:2])
    left_x, right_x = W // 10, W - W // 10
    cy, ly = (H - ch) // 2 + H // 20, (H - lh) // 2 + H // 20
    if layout.client_side == "left":
        return Panel(layout.client_scale, left_x, cy), Panel(layout.listener_scale, right_x - lw, ly)
    return Panel(layout.client_scale, right_x - cw, cy), Panel(layout.listener_scale, left_x, ly)


def dialogue(name: str, layout: Layout, turns: list, therapist: list, tgap: float = 1.2,
             note: str = "") -> Case:
    """Therapist prompt, client turn, ... as in the dev set; each client turn plays one clip.

    turns: (clip key or Source, face, face_valence, stated valence, words, src_t0, length).
    """
    t = 0.0
    cues, segs = [], []
    client_spans, listener_spans = [], []
    srcs = [tr[0] for tr in turns]
    client, listener = place(layout, srcs[0])
    for i, (src, face, fval, stated, words, s0, length) in enumerate(turns):
        d = length if length else frames_dur(src) - s0
        tp = tgap + (0.2 if i % 3 == 2 else 0.0)
        cues.append((t, t + tp, "Therapist", therapist[i % len(therapist)]))
        client_spans.append(Span(t, t + tp, src, s0, still=True))
        if listener is not None and layout.listener_mode == "therapist":
            ls = layout.listener
            off = (i * 0.9) % max(0.01, ls.duration - tp) if ls.duration > tp else 0.0
            listener_spans.append(Span(t, t + tp, ls, off))
            listener_spans.append(Span(t + tp, t + tp + d, ls, off + tp, still=True))
        t += tp
        cues.append((t, t + d, "Client", words))
        client_spans.append(Span(t, t + d, src, s0))
        segs.append({"start": round(t, 2), "end": round(t + d, 2), "face": face,
                     "face_valence": fval, "stated": stated,
                     "clip": Path(src.path).name, "incongruent": incongruent(fval, stated)})
        t += d
    client.spans = client_spans
    panels = [client]
    if listener is not None:
        if layout.listener_mode == "loop":
            listener_spans = [Span(0.0, t, layout.listener, 0.0, loop=True, audible=False)]
        listener.spans = listener_spans
        panels.append(listener)
    cues = [(round(a, 2), round(b, 2), w, x) for a, b, w, x in cues]
    return Case(name, layout.width, layout.height, layout.client_side, panels, cues, segs, [],
                round(t, 2), layout.background, note)


def ct(k: str, stated: str, words: str):
    """A CREMA-D client turn: the whole clip, labelled with its perceived face."""
    face, fval = CREMA_FACE[k]
    return (crema(k), face, fval, stated, words, 0.0, None)


def rt(stated: str, words: str, s0: float = 0.0, length: Optional[float] = None):
    """A RAVDESS client turn: actor 01, strong disgust throughout the clip."""
    return (ravdess(), "disgusted", "neg", stated, words, s0, length)


THERAPIST_A = ["What's been on your mind this week?", "How did that go?",
               "And how did that leave you feeling?", "Say a bit more about that.",
               "What happened next?", "How are things with your family?",
               "What was the hardest part?"]
THERAPIST_B = ["Where would you like to start today?", "Mm. And then?",
               "How are you sleeping these days?", "What was that like?",
               "How do you feel about it now?", "Anything else from the week?",
               "What would you like to be different?"]


# --------------------------------------------------------------------------- the cases
def build_cases() -> list[Case]:
    cases = []

    # 1. CREMA-D 1001 alone, 640x480, a smaller face on a plain wall (not the full frame).
    lay = Layout(640, 480, "only", 1.0, background=(88, 84, 78), client_offset=(80, 90))
    cases.append(dialogue("ho_crema_single", lay, [
        ct("NEU", "neu", "I took the bus in and had a meeting at ten."),
        ct("HAP", "neg", "It's been a rotten week, I'm exhausted and fed up."),
        ct("ANG", "pos", "Can't complain, things are going pretty well."),
        ct("SAD", "neu", "We moved the appointment to Thursday."),
        ct("FEA", "neg", "I'm frustrated, nobody at home listens to me."),
        ct("DIS", "pos", "I'm not upset at all, I'm actually in a good mood today."),
        ct("HAP", "pos", "We had a lovely weekend together, I really enjoyed it."),
    ], THERAPIST_A))

    # 2. Client on the RIGHT of 1280x720 (face ~1/8 of the height); listener: the RAVDESS
    #    actor on the left, talking during the therapist's turns.
    lay = Layout(1280, 720, "right", 0.8, listener=ravdess(), listener_scale=0.47,
                 background=(60, 52, 48))
    cases.append(dialogue("ho_crema_wide_right", lay, [
        ct("SAD", "neu", "I spent Sunday sorting out the garage."),
        ct("FEA", "pos", "Honestly? Never better."),
        ct("HAP", "neg", "I'm not happy about it, not at all."),
        ct("NEU", "neu", "My brother called on Tuesday about the car."),
        ct("ANG", "neg", "I can't stop worrying about money."),
        ct("HAP", "pos", "No complaints, really, it's been a nice week."),
    ], THERAPIST_B))

    # 3. Client on the LEFT of 1920x1080 (face ~1/8 of the height); listener: the Pexels
    #    woman, her real clip running the whole time on the right.
    lay = Layout(1920, 1080, "left", 1.2, listener=pexels(), listener_scale=0.55,
                 listener_mode="loop", background=(45, 50, 58))
    cases.append(dialogue("ho_crema_1080_left", lay, [
        ct("ANG", "pos", "I guess it's fine. It's all fine."),
        ct("NEU", "neu", "I started the new rota at work this month."),
        ct("HAP", "neg", "Everything feels pointless lately."),
        ct("DIS", "neg", "I feel so let down by him."),
        ct("HAP", "pos", "I'm pretty happy with how it turned out."),
        ct("FEA", "pos", "Things with my sister are finally good again."),
        ct("SAD", "neg", "I'm not okay, to be honest."),
    ], THERAPIST_A, tgap=1.32))

    # 4. Fully congruent, client on the RIGHT of 1920x1080 with small faces (~1/14 of the
    #    height, as the dev set's crema_small); listener: the RAVDESS actor, always moving.
    lay = Layout(1920, 1080, "right", 0.66, listener=ravdess(), listener_scale=0.4,
                 listener_mode="loop", background=(58, 58, 58))
    cases.append(dialogue("ho_crema_congruent_small", lay, [
        ct("NEU", "neu", "We moved the appointment to Thursday, that's all."),
        ct("HAP", "pos", "I feel much lighter since we last talked."),
        ct("ANG", "neg", "I'm furious with my landlord, he ignored us again."),
        ct("SAD", "neu", "I had a meeting and then I went home."),
        ct("DIS", "neg", "It's been really hard, I cry most nights."),
        ct("FEA", "neg", "I'm not okay, to be honest."),
        ct("HAP", "pos", "Can't complain, it's been a good week."),
    ], THERAPIST_B))

    # 5. The RAVDESS actor as the client, alone (640x480, letterbox kept as in the source):
    #    a face that holds disgust the whole time.
    lay = Layout(640, 480, "only", 1.0, background=(0, 0, 0), client_offset=(0, 60))
    cases.append(dialogue("ho_ravdess_single", lay, [
        rt("pos", "Honestly, everything's great at home.", 0.0, 2.4),
        rt("neu", "I drove my mum to the dentist on Monday.", 1.6, 2.4),
        rt("neg", "I'm sick of the way they treat me.", 0.4, 3.2),
        rt("pos", "I'm not worried about it. I feel good.", 0.0, 2.8),
        rt("neu", "Then I made dinner and watched the news.", 1.2, 2.6),
    ], THERAPIST_A, note="RAVDESS actor 01, disgust (strong) throughout; every client turn "
                          "plays part of the one clip"))

    # 6. The RAVDESS actor as the client on the LEFT of 1280x720; listener: a mirrored
    #    CREMA-D clip (neutral), talking during the therapist's turns.
    lay = Layout(1280, 720, "left", 0.47, listener=crema("NEU", mirror=True), listener_scale=0.8,
                 background=(48, 56, 52))
    cases.append(dialogue("ho_ravdess_wide_left", lay, [
        rt("pos", "Never better, thanks for asking.", 0.0, 2.2),
        rt("neg", "I'm so tired of all of it.", 1.8, 2.2),
        rt("neu", "We went over the plan for next month.", 0.6, 2.4),
        rt("pos", "It was a really nice surprise, I loved it.", 1.0, 2.8),
    ], THERAPIST_B))

    # 7. The Pexels woman alone, her real continuous clip (640x360), our own transcript.
    px = pexels()
    dur = round(len(px.frames) / px.fps * FPS) / FPS
    p = Panel(None, 0, 0, [Span(0.0, dur + 1, px, 0.0)])
    cues = [(0.5, 2.9, "Client", "Honestly, never been better. Can't complain."),
            (3.1, 5.9, "Therapist", "Take a breath. You don't have to be fine for me."),
            (6.3, 10.1, "Client", "Sorry. I opened the email this morning and just sat there."),
            (10.8, 14.6, "Client", "I got the place! I'm so relieved and excited."),
            (14.8, 15.9, "Therapist", "That's wonderful."),
            (16.1, 19.4, "Client", "I'm not worried anymore. I feel really good.")]
    segs = [dict(start=0.5, end=2.9, face="sad", face_valence="neg", stated="pos", incongruent=True),
            dict(start=10.8, end=14.6, face="happy", face_valence="pos", stated="pos", incongruent=False),
            dict(start=16.1, end=19.4, face="happy", face_valence="pos", stated="pos", incongruent=False)]
    cases.append(Case("ho_pexels_single", 640, 360, "only", [p], cues, segs,
                      [dict(start=6.0, end=10.5, face="surprised", face_valence=None, stated=None)],
                      dur, note="hand-labelled: 0.5-6 s crying (hand over mouth/eyes from ~2.5 s), "
                                "6-10.5 s surprise/thinking (hand over mouth), 10.5-19.7 s smiling"))

    # 8. The Pexels woman as the client on the RIGHT of 1280x720 (face ~1/8 of the height);
    #    listener: a mirrored CREMA-D clip talking during the therapist's turns.
    lst = crema("SAD", mirror=True)
    client = Panel(0.35, 1280 - 128 - int(640 * 0.35), 300, [Span(0.0, dur + 1, px, 0.0)])
    therapist_turns = [(3.1, 5.9), (14.9, 16.1)]
    lspans = []
    last = 0.0
    for a, b in therapist_turns:
        lspans += [Span(last, a, lst, 0.0, still=True), Span(a, b, lst, 0.0, loop=True)]
        last = b
    lspans.append(Span(last, dur + 1, lst, 0.0, still=True))
    listener = Panel(0.8, 128, 220, lspans)
    cues = [(0.5, 2.9, "Client", "It's nothing. I'm okay, I guess."),
            (3.1, 5.9, "Therapist", "It doesn't look like nothing. What happened?"),
            (6.3, 10.1, "Client", "I don't know where to start."),
            (10.8, 14.7, "Client", "It's been an awful month. I've felt so alone."),
            (14.9, 16.1, "Therapist", "That sounds lonely."),
            (16.3, 19.4, "Client", "But today was a good day. I'm happy.")]
    segs = [dict(start=0.5, end=2.9, face="sad", face_valence="neg", stated="pos", incongruent=True),
            dict(start=10.8, end=14.7, face="happy", face_valence="pos", stated="neg", incongruent=True),
            dict(start=16.3, end=19.4, face="happy", face_valence="pos", stated="pos", incongruent=False)]
    cases.append(Case("ho_pexels_wide_right", 1280, 720, "right", [client, listener], cues, segs,
                      [dict(start=6.0, end=10.5, face="surprised", face_valence=None, stated=None)],
                      dur, (40, 40, 46),
                      note="client: the Pexels woman (see ho_pexels_single); listener on the "
                           "left: CREMA-D 1001 SAD, mirrored, talking in the therapist's turns"))

    # 9. CREMA-D 1001 alone, full 640x480 frame like the dev set, plain accounts mostly,
    #    with a mirrored image (the client faces the other way).
    lay = Layout(640, 480, "only", None)
    turns = [ct("SAD", "neu", "I dropped the kids at school and went to the shop."),
             ct("HAP", "neg", "Work's been awful. I dread going in every morning."),
             ct("NEU", "pos", "I'm doing well, thanks. Pretty relaxed."),
             ct("DIS", "pos", "Oh, it's all good, we sorted it out."),
             ct("FEA", "neu", "He said he'd call on Friday."),
             ct("ANG", "neg", "I'm really annoyed that nobody told me."),
             ct("HAP", "neu", "We went to the cinema on Saturday.")]
    turns = [(crema(Path(tr[0].path).name.split("_")[2], mirror=True),) + tr[1:] for tr in turns]
    cases.append(dialogue("ho_crema_single_mirror", lay, turns, THERAPIST_B, tgap=1.4))
    if _PYFAME_DIR:
        cases += pyfame_cases()
    return cases


def pyfame_cases() -> list[Case]:
    """Two more people (with --pyfame): RAVDESS actor 01's other takes and a woman."""
    cases = []
    # 10. The woman as the client on the LEFT of 1920x1080, face ~1/8 of the height;
    #     listener: actor 01 (calm take) on the right, talking in the therapist's turns.
    lay = Layout(1920, 1080, "left", 0.45, listener=pyfame("m_calm"), listener_scale=0.45,
                 background=(50, 54, 60))
    cases.append(dialogue("ho_pyfame_wide_left", lay, [
        pt("f_calm", "neu", "I went to my sister's for lunch on Sunday."),
        pt("f_fear", "pos", "I'm completely calm about the move, honestly."),
        pt("f_calm", "pos", "Work's been going really well lately."),
        pt("f_fear", "neg", "I'm terrified something will go wrong again."),
        pt("f_calm", "neg", "I've been feeling pretty low this week."),
        pt("f_fear", "pos", "I feel safe at home now. Really relaxed."),
    ], THERAPIST_A, note="client: pyfame RAVDESS sample_03 (calm) and sample_04 (fear), a "
                         "woman; listener: actor 01's calm take"))
    # 11. Actor 01's other two takes, alone, 640x480 with a border.
    lay = Layout(640, 480, "only", 0.5, background=(70, 70, 74), client_offset=(140, 60))
    cases.append(dialogue("ho_pyfame_single", lay, [
        pt("m_calm", "neg", "It's been a rough few weeks, I'm worn out."),
        pt("m_disgust", "pos", "Everything's fine, we get on great."),
        pt("m_calm", "pos", "I'm in a good place at the moment."),
        pt("m_disgust", "neg", "I'm sick of how he talks to me."),
        pt("m_calm", "neu", "I caught the early train on Monday."),
        pt("m_disgust", "pos", "I'm really happy for them, it's lovely news."),
    ], THERAPIST_B, note="client: pyfame RAVDESS sample_01 (calm) and sample_02 (disgust), "
                         "actor 01"))
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--pyfame", type=Path, default=None,
                    help="pyfame-1.0.10/src/pyfame/data/sample: two more cases, two more people")
    args = ap.parse_args()
    if args.pyfame is not None:
        if not (args.pyfame / PYFAME["m_calm"][0]).is_file():
            raise SystemExit(f"no pyfame samples in {args.pyfame} (see PYFAME in this file)")
        _PYFAME_DIR.append(args.pyfame)
    out = args.out or Path(tempfile.mkdtemp(prefix="cuewatch-heldout-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    w0 = time.time()
    for case in build_cases():
        if args.only and case.name not in args.only:
            continue
        write_case(case, out)
        ev = sum(s["incongruent"] for s in case.segments)
        print(f"{case.name}: {case.width}x{case.height} client={case.client_face} "
              f"{case.duration:.2f} s, {len(case.segments)} client turns, {ev} events")
    print(f"built in {out} ({time.time() - w0:.1f} s wall, {time.process_time() - t0:.1f} s CPU "
          "in this process, ffmpeg not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
