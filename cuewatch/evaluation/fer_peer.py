"""The ``fer`` peer (FER2013 CNN, MTCNN face finder), run as a script in its own Python.

``fer`` pulls torch, tensorflow and their CUDA wheels (gigabytes) that analysis never
needs, and TensorFlow beside MediaPipe in one process is untried, so it runs in a separate
environment (``python -m venv V && V/bin/pip install fer
"setuptools<81"``) and this file is run by path with that Python; it imports nothing of
cuewatch. Input: a JSON list of {"id", "path", "kind", "span"}; output: {"id": {"scores":
{fer label: mean score}, "frames": n}} (frames 0: no face found).
Usage: V/bin/python cuewatch/evaluation/fer_peer.py ITEMS.json OUT.json [--fps 5]
"""

from __future__ import annotations

import json
import sys

#: frames per second read from a clip (fer is slow: about 0.3 s a frame on one core).
DEFAULT_FPS = 5.0


def _largest(faces: list) -> dict | None:
    return max(faces, key=lambda f: f["box"][2] * f["box"][3]) if faces else None


def run(items: list[dict], fps: float) -> dict:
    import cv2
    from fer.fer import FER

    detector = FER(mtcnn=True)
    out = {}
    for it in items:
        frames = []
        if it["kind"] == "image":
            img = cv2.imread(it["path"])
            frames = [img] if img is not None else []
        else:
            cap = cv2.VideoCapture(it["path"])
            native = cap.get(cv2.CAP_PROP_FPS) or 30.0
            step = max(1, int(round(native / fps)))
            start, end = it.get("span") or (0.0, float("inf"))
            i = 0
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                t = i / native
                if i % step == 0 and start <= t <= end:
                    frames.append(img)
                i += 1
            cap.release()
        total: dict[str, float] = {}
        n = 0
        for img in frames:
            face = _largest(detector.detect_emotions(img))
            if face is None:
                continue
            n += 1
            for k, v in face["emotions"].items():
                total[k] = total.get(k, 0.0) + float(v)
        out[it["id"]] = {"scores": {k: v / n for k, v in total.items()} if n else {}, "frames": n}
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    fps = float(args[args.index("--fps") + 1]) if "--fps" in args else DEFAULT_FPS
    with open(args[0]) as fh:
        items = json.load(fh)
    result = run(items, fps)
    with open(args[1], "w") as fh:
        json.dump(result, fh)
