#!/usr/bin/env python3
"""Build sample_media/: a short consented demo role-play from CREMA-D clips.

The client's turns are CREMA-D clips of actor 1001 (ODbL / DbCL, see
sample_media/ATTRIBUTION.md); between them the client listens while the therapist speaks
(a still of the client's neutral face, no sound). The transcript gives the client words
whose mood sometimes conflicts with the face, so the demo has something to flag.

Usage: python scripts/build_sample.py [--media ../shared/media/crema_d] [--out sample_media]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parents[1]
W, H, FPS = 640, 480, 30
PAUSE_S = 1.4

#: (CREMA-D clip, what the client says). Perceived faces (the dataset's face-only ratings):
#: NEU neutral, HAP happy, ANG angry, FEA seen as disgusted.
TURNS: tuple[tuple[str, str, str], ...] = (
    ("How have things been since we last met?", "1001_DFA_NEU_XX.flv",
     "It was an ordinary week, I went to work and came home."),
    ("And how are you feeling about the move?", "1001_DFA_HAP_XX.flv",
     "Honestly I've been feeling really down and lonely."),
    ("What happened with your sister?", "1001_DFA_ANG_XX.flv",
     "Oh it's fine, everything is great between us."),
    ("How did the interview go?", "1001_DFA_HAP_XX.flv",
     "It went really well, I'm so happy about it."),
    ("And the appointment next week?", "1001_DFA_FEA_XX.flv",
     "I'm scared it is going to go badly again."),
    ("How do you feel about our sessions so far?", "1001_DFA_ANG_XX.flv",
     "I'm doing great, never better, thank you."),
)

CONSENT = {
    "participants": [{"name": "CREMA-D actor 1001", "role": "client"},
                     {"name": "Therapist (voice not recorded)", "role": "therapist"}],
    "scopes": ["training", "supervision", "research"],
    "obtained": "2014-01-01",
    "expires": None,
    "recorded_by": "CREMA-D (Cao et al. 2014), Open Database License 1.0",
    "note": "Demo material: CREMA-D participants consented to research use and public release.",
}


def ts(t: float) -> str:
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def clip_duration(ffmpeg: str, path: Path) -> float:
    out = subprocess.run([ffmpeg, "-i", str(path)], capture_output=True, text=True).stderr
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Duration:"):
            h, m, s = line.split(",")[0].split()[1].split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
    raise RuntimeError(f"no duration for {path}")


def build(media: Path, out: Path) -> None:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    out.mkdir(parents=True, exist_ok=True)
    fit = (f"scale={W}:{H}:force_original_aspect_ratio=decrease,pad={W}:{H}:(ow-iw)/2:(oh-ih)/2,"
           f"setsar=1,fps={FPS},format=yuv420p")
    with tempfile.TemporaryDirectory() as tmp:
        still = Path(tmp) / "listening.png"
        subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(media / "1001_DFA_NEU_XX.flv"),
                        "-frames:v", "1", "-vf", fit, str(still)], check=True)
        inputs: list[str] = []
        parts: list[str] = []
        cues: list[tuple[float, float, str, str]] = []
        t = 0.0
        n = 0
        for question, clip, answer in TURNS:
            inputs += ["-loop", "1", "-t", f"{PAUSE_S}", "-i", str(still),
                       "-f", "lavfi", "-t", f"{PAUSE_S}", "-i", "anullsrc=r=16000:cl=mono"]
            parts.append(f"[{n}:v]{fit}[v{n}];[{n + 1}:a]aresample=16000[a{n}];")
            cues.append((t, t + PAUSE_S, "Therapist", question))
            t += PAUSE_S
            n += 2
            path = media / clip
            d = clip_duration(ffmpeg, path)
            inputs += ["-i", str(path)]
            parts.append(f"[{n}:v]{fit}[v{n}];[{n}:a]aresample=16000,apad,atrim=0:{d:.3f}[a{n}];")
            cues.append((t, t + d, "Client", answer))
            t += d
            n += 1
        labels = "".join(f"[v{i}][a{i}]" for i in range(n) if f"[v{i}]" in "".join(parts))
        count = labels.count("[v")
        graph = "".join(parts) + f"{labels}concat=n={count}:v=1:a=1[v][a]"
        video = out / "demo_roleplay.mp4"
        subprocess.run([ffmpeg, "-v", "error", "-y", *inputs, "-filter_complex", graph,
                        "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "medium",
                        "-crf", "26", "-c:a", "aac", "-b:a", "48k", "-movflags", "+faststart",
                        str(video)], check=True)
    vtt = ["WEBVTT", ""]
    for i, (a, b, who, text) in enumerate(cues, 1):
        vtt += [str(i), f"{ts(a)} --> {ts(b)}", f"<v {who}>{text}", ""]
    (out / "demo_roleplay.vtt").write_text("\n".join(vtt), encoding="utf-8")
    (out / "demo_roleplay.mp4.consent.json").write_text(json.dumps(CONSENT, indent=1) + "\n")
    print(f"wrote {video} ({video.stat().st_size / 1e6:.1f} MB, {t:.1f} s), transcript and consent")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media" / "crema_d")
    ap.add_argument("--out", type=Path, default=ROOT / "sample_media")
    args = ap.parse_args()
    if not args.media.is_dir():
        print(f"CREMA-D clips not found at {args.media}", file=sys.stderr)
        return 2
    build(args.media, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
