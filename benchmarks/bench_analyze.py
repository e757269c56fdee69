"""Speed and memory of the face pass, as ratios to a plain MediaPipe loop (issues 2 and 14).

Builds its test videos from ../shared/media into a temporary directory (never committed):
- ``single``: one face at 640x480 (CREMA-D clips and the Pexels clip, letterboxed, looped);
- ``wide``: a 1920x1080 two-person shot, faces about 1/8 of the height (CREMA-D on the
  left, the Pexels clip on the right, on a textured background).
For each it prints decode-only frames per second, the analysis speed in multiples of real
time (whole process: the analysis runs in a child process with default settings, worker
processes included) and the peak RSS summed over that process tree; then the peak RSS for
1 and 10 minutes of the same video. The yardstick is a plain one-thread MediaPipe loop
(tasks API, VIDEO mode, blendshapes and matrix, 15 fps) over the first 30 s of the same
video, timed just before and just after the analysis (their mean, so a load that changes
during the run weighs on both sides): the issue's targets are ratios to it, which hold on
any machine. Last, the litert engine's agreement with the mediapipe reference on shared
media (``cuewatch.evaluation.engine_agreement``). And what the machine's cores give: the
plain loop alone, then two copies of it at once in two processes (``--no-scaling`` skips
it); on a machine whose two cores do twice one core's work the pair's summed speed is 2.0
times the lone one's, and the analysis, which uses both cores, can reach the 2x target only
as far as that scaling allows.

    python benchmarks/bench_analyze.py [--minutes 3] [--rss-videos single wide] [--keep DIR]
        [--engine litert|mediapipe] [--no-agreement] [--no-scaling]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))
MODEL = Path(os.environ.get("CUEWATCH_MODEL", SHARED / "models" / "face_landmarker.task"))
FPS = 25
BASE_S = 30  # seconds of distinct content; longer videos loop it (stream copy)


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _clips(pattern: str) -> list[np.ndarray]:
    """Decoded frames (RGB) of every matching clip, resampled to 25 fps, in order."""
    from cuewatch.media.video import FrameReader, probe_video
    from cuewatch.options import AnalysisSettings

    out = []
    for path in sorted(glob.glob(str(SHARED / "media" / pattern))):
        out.append(np.stack([f.image for f in FrameReader(probe_video(path), AnalysisSettings(fps=FPS))]))
    return out


def _fit(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    """Letterbox a frame into w x h."""
    import cv2

    s = min(w / frame.shape[1], h / frame.shape[0])
    nw, nh = int(frame.shape[1] * s) // 2 * 2, int(frame.shape[0] * s) // 2 * 2
    canvas = np.full((h, w, 3), 16, np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    canvas[y:y + nh, x:x + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas


def _encode(frames, w: int, h: int, out: Path) -> None:
    cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
           "-crf", "23", "-pix_fmt", "yuv420p", str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for f in frames:
        proc.stdin.write(np.ascontiguousarray(f).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"ffmpeg failed building {out}")


def _sequence(clips: list[np.ndarray], n: int):
    """n frames cycling through the clips."""
    i = 0
    while i < n:
        for clip in clips:
            for f in clip:
                if i >= n:
                    return
                yield f
                i += 1


def build_base(kind: str, out: Path) -> None:
    n = BASE_S * FPS
    crema = _clips("crema_d/*.flv")
    pexels = _clips("pexels/*.mp4")
    if kind == "single":
        frames = (_fit(f, 640, 480) for f in _sequence(crema + pexels, n))
        _encode(frames, 640, 480, out)
        return
    import cv2

    rng = np.random.default_rng(0)
    noise = cv2.resize(rng.integers(40, 110, (54, 96, 3), dtype=np.uint8), (1920, 1080),
                       interpolation=cv2.INTER_CUBIC)
    bg = cv2.GaussianBlur(noise, (0, 0), 3)

    def compose(pair):
        left, right = pair
        canvas = bg.copy()
        # CREMA-D face ~100 px of 360 -> ~135 px; Pexels face ~110 px of 360 -> ~135 px
        a = cv2.resize(left, (648, 486), interpolation=cv2.INTER_AREA)
        b = cv2.resize(right, (784, 441), interpolation=cv2.INTER_AREA)
        canvas[300:786, 200:848] = a
        canvas[320:761, 1060:1844] = b
        return canvas

    frames = (compose(p) for p in zip(_sequence(crema, n), _sequence(pexels, n)))
    _encode(frames, 1920, 1080, out)


def loop_to(base: Path, seconds: float, out: Path) -> None:
    subprocess.run([_ffmpeg(), "-y", "-loglevel", "error", "-stream_loop", "-1", "-i", str(base),
                    "-t", f"{seconds:.2f}", "-c", "copy", str(out)], check=True)


def decode_fps(path: Path, limit_s: float = 60.0) -> float:
    from cuewatch.media.video import FrameReader, probe_video
    from cuewatch.options import AnalysisSettings

    start = time.perf_counter()
    n = sum(1 for _ in FrameReader(probe_video(path), AnalysisSettings(fps=None), 0.0, limit_s))
    return n / (time.perf_counter() - start)


def _tree_rss(pid: int) -> int:
    """RSS in bytes of a process and all its descendants."""
    total = 0
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
        stack += children.get(p, [])
    return total


def run_analysis(video: Path, out: Path, engine: Optional[str] = None) -> tuple[float, float, float]:
    """(wall seconds, video seconds, peak tree RSS MB) of `analyze_video` in a child process."""
    settings = f"AnalysisSettings(engine={engine!r})" if engine else "AnalysisSettings()"
    code = ("import sys; from pathlib import Path;"
            "from cuewatch.faces.face_pass import analyze_video; from cuewatch.options import AnalysisSettings;"
            "from cuewatch.media.video import probe_video\n"
            "if __name__ == '__main__':\n"
            f"    analyze_video({str(video)!r}, {settings}, {str(MODEL)!r}, Path({str(out)!r}))\n"
            f"    print(probe_video({str(video)!r}).duration)")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    stdout = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"analysis of {video} failed ({proc.returncode})")
    return wall, float(stdout.strip().splitlines()[-1]), peak / 2**20


def plain_loop(path: Path, seconds: float = 30.0) -> float:
    """x real time of a plain one-thread MediaPipe loop (whole frame, VIDEO mode, 15 fps)."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from cuewatch.media.video import FrameReader, probe_video
    from cuewatch.options import AnalysisSettings

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(MODEL)), running_mode=vision.RunningMode.VIDEO,
        num_faces=1, output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    with vision.FaceLandmarker.create_from_options(options) as lm:
        start = time.perf_counter()
        for f in FrameReader(probe_video(path), AnalysisSettings(), 0.0, seconds):
            lm.detect_for_video(mp.Image(mp.ImageFormat.SRGB, f.image), int(f.timestamp * 1000))
        return seconds / (time.perf_counter() - start)


SCALING_S = 20.0  # seconds of the single video each plain loop reads for core_scaling


def core_scaling(video: Path, seconds: float = SCALING_S) -> dict:
    """The plain loop alone, then two copies at once in two processes: their summed speed
    over the lone one's (2.0 where two cores do twice one core's work)."""
    bench = str(Path(__file__).resolve().parent)
    code = (f"import sys; sys.path.insert(0, {bench!r}); import bench_analyze as b\n"
            f"print(b.plain_loop(b.Path({str(video)!r}), {seconds!r}))")

    def run(n: int) -> list[float]:
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
        out = []
        for proc in procs:
            stdout, _ = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit("the plain loop failed in a child process")
            out.append(float(stdout.strip().splitlines()[-1]))
        return out

    alone = run(1)[0]
    pair = run(2)
    scaling = sum(pair) / alone
    print(f"cores: the plain loop alone {alone:.2f}x real time, two at once {pair[0]:.2f}x + "
          f"{pair[1]:.2f}x: the two cores give {scaling:.2f} times one core's work", flush=True)
    return {"alone_x": round(alone, 2), "pair_x": [round(x, 2) for x in pair], "scaling": round(scaling, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the speed videos")
    ap.add_argument("--videos", nargs="*", default=["single", "wide"], choices=["single", "wide"])
    ap.add_argument("--rss-videos", nargs="*", default=["single", "wide"], choices=["single", "wide"],
                    help="videos whose 1- and 10-minute peak RSS is measured")
    ap.add_argument("--keep", type=Path, help="build the videos here and keep them")
    ap.add_argument("--engine", choices=["litert", "mediapipe"], help="face engine (default: cuewatch's)")
    ap.add_argument("--no-agreement", action="store_true", help="skip the engine agreement figures")
    ap.add_argument("--no-scaling", action="store_true", help="skip measuring what the two cores give")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="cuewatch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"cpu cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.2f}  videos in {work}")
    results: dict = {}
    for kind in sorted(set(args.videos) | set(args.rss_videos)):
        base = work / f"{kind}_base.mp4"
        if not base.exists():
            build_base(kind, base)
        results[kind] = {}
        if kind in args.videos:
            video = work / f"{kind}_{args.minutes:g}min.mp4"
            loop_to(base, args.minutes * 60, video)
            dec = decode_fps(video)
            before = plain_loop(video)
            load = os.getloadavg()[0]
            wall, dur, rss = run_analysis(video, work / f"out_{kind}", args.engine)
            after = plain_loop(video)
            ref = (before + after) / 2
            results[kind].update(decode_fps=round(dec, 1), x_real_time=round(dur / wall, 2),
                                 wall_s=round(wall, 1), peak_rss_mb=round(rss), plain_loop_x=round(ref, 2),
                                 plain_loop_before_after=[round(before, 2), round(after, 2)],
                                 ratio=round(dur / wall / ref, 2), load=round(load, 2))
            print(f"{kind}: {dur:.0f} s video, decode-only {dec:.0f} fps, analysis "
                  f"{dur / wall:.2f}x real time ({wall:.1f} s), peak RSS {rss:.0f} MB; plain loop "
                  f"{ref:.2f}x real time (before {before:.2f}, after {after:.2f}); ratio "
                  f"{dur / wall / ref:.2f} (load {load:.2f})", flush=True)
        if kind in args.rss_videos:
            for minutes in (1, 10):
                video = work / f"{kind}_{minutes}min_rss.mp4"
                loop_to(base, minutes * 60, video)
                wall, dur, rss = run_analysis(video, work / f"out_{kind}_{minutes}", args.engine)
                results[kind][f"peak_rss_{minutes}min_mb"] = round(rss)
                results[kind][f"x_real_time_{minutes}min"] = round(dur / wall, 2)
                print(f"{kind}: {minutes} min: peak RSS {rss:.0f} MB ({dur / wall:.2f}x real time)",
                      flush=True)
                video.unlink()
    if not args.no_scaling and (work / "single_base.mp4").exists():
        results["cores"] = core_scaling(work / "single_base.mp4")
    if not args.no_agreement:
        results["agreement"] = agreement()
    _verdicts(results)
    print(json.dumps(results, indent=1))


#: shared media the engines are compared on, and how many seconds of each.
AGREEMENT_MEDIA = ("eval/crema_single.mp4", "eval/crema_small.mp4", "media/pexels/WolfgangLanger_Pexels.mp4")
AGREEMENT_S = 8.0


def agreement() -> list[dict]:
    from cuewatch.evaluation.engine_agreement import engine_agreement

    out = []
    for name in AGREEMENT_MEDIA:
        found = engine_agreement(SHARED / name, MODEL, AGREEMENT_S)
        print(f"agreement {found.line()}; {'passes' if found.passes() else 'FAILS'}", flush=True)
        out.append(found.to_dict())
    return out


#: issue 14's targets: speed as a ratio to the plain loop measured in the same run.
TARGET_RATIO = {"single": 2.0, "wide": 1.0}
TARGET_RSS_MB = 600
TARGET_FLAT_MB = 50


def _verdicts(results: dict) -> None:
    """Each target against its figure."""
    for kind, r in results.items():
        if not isinstance(r, dict):
            continue
        if "ratio" in r:
            print(f"{kind}: {r['x_real_time']:.2f}x real time, {r['ratio']:.2f}x the plain loop "
                  f"(target {TARGET_RATIO[kind]:g}x)")
        peaks = [v for k, v in r.items() if k.startswith("peak_rss")]
        if peaks:
            print(f"{kind}: peak RSS at most {max(peaks)} MB (target {TARGET_RSS_MB})")
        if "peak_rss_1min_mb" in r and "peak_rss_10min_mb" in r:
            diff = r["peak_rss_10min_mb"] - r["peak_rss_1min_mb"]
            print(f"{kind}: 10 min minus 1 min peak RSS {diff:+d} MB (target within {TARGET_FLAT_MB})")


if __name__ == "__main__":
    main()
