"""Per-track feature arrays on disk: what the face pass produced, for every later stage.

A features directory holds ``meta.json``, the analysed frames (``frames.*.npy``) and, per
track, one ``.npy`` file per field (``track_<id>.<field>.npy``). Arrays are written by
streaming rows to disk, so memory stays flat however long the recording; they are read
back memory-mapped. Landmarks are stored as float16 relative to the face box (well under
0.1 px of error for a face up to 200 px), about 2.9 kB per face per frame: 155 MB for an
hour of one face at 15 fps, on disk, never all in memory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.files import write_text_atomic
from cuewatch.formats import FEATURES_FORMAT_VERSION, N_BLENDSHAPES, N_LANDMARKS

META_FILE = "meta.json"

#: per-track fields: name -> (dtype, shape of one row)
TRACK_FIELDS: dict[str, tuple[str, tuple[int, ...]]] = {
    "frame": ("<i4", ()),
    "timestamp": ("<f8", ()),
    "bbox": ("<f4", (4,)),
    "confidence": ("<f4", ()),
    "blendshapes": ("<f2", (N_BLENDSHAPES,)),
    "pose": ("<f4", (3,)),
    "landmarks": ("<f2", (N_LANDMARKS, 3)),
}
FRAME_FIELDS: dict[str, tuple[str, tuple[int, ...]]] = {
    "index": ("<i4", ()),
    "time": ("<f8", ()),
}
#: rows copied at a time when files are merged (bounded memory).
_COPY_ROWS = 4096


def _row_bytes(dtype: str, shape: tuple[int, ...]) -> int:
    return int(np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)))


def _write_npy_from_raw(raw: Path, out: Path, dtype: str, shape: tuple[int, ...]) -> int:
    """Turn a raw row stream into an .npy file without loading it."""
    rb = _row_bytes(dtype, shape)
    n = raw.stat().st_size // rb if raw.exists() else 0
    with open(out, "wb") as fo:
        np.lib.format.write_array_header_2_0(
            fo, {"descr": dtype, "fortran_order": False, "shape": (n, *shape)})
        if n:
            with open(raw, "rb") as fi:
                shutil.copyfileobj(fi, fo, 1 << 20)
    return n


def _npy_rows(path: Path) -> tuple[int, int, str, tuple[int, ...]]:
    """(header length, rows, dtype, row shape) of an .npy file."""
    m = np.load(path, mmap_mode="r")
    try:
        return int(m.offset), int(m.shape[0]), m.dtype.str, tuple(m.shape[1:])
    finally:
        del m


def _pack_landmarks(landmarks: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in bbox)
    w = max(1.0, x1 - x0)
    h = max(1.0, y1 - y0)
    rel = np.empty((N_LANDMARKS, 3), dtype=np.float32)
    rel[:, 0] = (landmarks[:, 0] - x0) / w
    rel[:, 1] = (landmarks[:, 1] - y0) / h
    rel[:, 2] = landmarks[:, 2] / w
    return rel.astype(np.float16)


def _unpack_landmarks(packed: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    rel = packed.astype(np.float32)
    x0, y0 = bbox[:, 0:1], bbox[:, 1:2]
    w = np.maximum(1.0, bbox[:, 2:3] - x0)
    h = np.maximum(1.0, bbox[:, 3:4] - y0)
    out = np.empty_like(rel)
    out[:, :, 0] = rel[:, :, 0] * w + x0
    out[:, :, 1] = rel[:, :, 1] * h + y0
    out[:, :, 2] = rel[:, :, 2] * w
    return out


class FeaturesWriter:
    """Streams per-frame observations to a features directory. Use from one thread.

    ``finish`` renames provisional track ids to final ones (tracklets linked into persons)
    and writes ``meta.json`` last, so a directory without it is an unfinished write.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._raw = self.directory / "raw"
        if self._raw.exists():
            shutil.rmtree(self._raw)
        self._raw.mkdir()
        self._files: dict[tuple[int, str], Any] = {}
        self._frames = {name: open(self._raw / f"frames.{name}", "wb") for name in FRAME_FIELDS}
        self.track_ids: set[int] = set()
        self.n_frames = 0

    def _file(self, track_id: int, name: str) -> BinaryIO:
        key = (track_id, name)
        f = self._files.get(key)
        if f is None:
            f = open(self._raw / f"track_{track_id}.{name}", "wb")
            self._files[key] = f
        return f

    def add(self, frame_index: int, timestamp: float, observations: Sequence[Any]) -> None:
        """Record one analysed frame and the faces seen in it (possibly none)."""
        self._frames["index"].write(np.int32(frame_index).tobytes())
        self._frames["time"].write(np.float64(timestamp).tobytes())
        self.n_frames += 1
        for obs in observations:
            tid = int(obs.track_id)
            self.track_ids.add(tid)
            bbox = np.asarray(obs.bbox, dtype=np.float32).reshape(4)
            self._file(tid, "frame").write(np.int32(frame_index).tobytes())
            self._file(tid, "timestamp").write(np.float64(timestamp).tobytes())
            self._file(tid, "bbox").write(bbox.tobytes())
            self._file(tid, "confidence").write(np.float32(obs.confidence).tobytes())
            self._file(tid, "blendshapes").write(
                np.asarray(obs.blendshapes, dtype=np.float16).reshape(N_BLENDSHAPES).tobytes())
            self._file(tid, "pose").write(np.asarray(obs.pose, dtype=np.float32).reshape(3).tobytes())
            self._file(tid, "landmarks").write(
                _pack_landmarks(np.asarray(obs.landmarks, dtype=np.float32), bbox).tobytes())

    def _close_raw(self) -> None:
        for f in list(self._files.values()) + list(self._frames.values()):
            f.close()

    def finish(self, meta: dict[str, Any], id_map: Optional[dict[int, int]] = None) -> Path:
        """Write the final arrays and ``meta.json``; returns the directory."""
        self._close_raw()
        for name, (dtype, shape) in FRAME_FIELDS.items():
            _write_npy_from_raw(self._raw / f"frames.{name}", self.directory / f"frames.{name}.npy",
                                dtype, shape)
        id_map = dict(id_map or {})
        groups: dict[int, list[int]] = {}
        for tid in sorted(self.track_ids):
            groups.setdefault(int(id_map.get(tid, tid)), []).append(tid)
        for final, parts in groups.items():
            if len(parts) == 1:
                for name, (dtype, shape) in TRACK_FIELDS.items():
                    _write_npy_from_raw(self._raw / f"track_{parts[0]}.{name}",
                                        self.directory / f"track_{final}.{name}.npy", dtype, shape)
            else:
                tmp = []
                for p in parts:
                    for name, (dtype, shape) in TRACK_FIELDS.items():
                        _write_npy_from_raw(self._raw / f"track_{p}.{name}",
                                            self._raw / f"part_{p}.{name}.npy", dtype, shape)
                    tmp.append(self._raw / f"part_{p}")
                _merge_tracks([(t, None) for t in tmp], self.directory / f"track_{final}")
        shutil.rmtree(self._raw, ignore_errors=True)
        return write_meta(self.directory, meta, sorted(groups))


def write_meta(directory: Path, meta: dict[str, Any], track_ids: Sequence[int]) -> Path:
    """Write ``meta.json`` atomically: its presence marks a complete features directory."""
    full = dict(meta)
    full["format_version"] = FEATURES_FORMAT_VERSION
    full["track_ids"] = [int(t) for t in track_ids]
    write_text_atomic(directory / META_FILE, json.dumps(full, indent=1, sort_keys=True))
    return directory


def _merge_tracks(parts: Sequence[tuple[Path, Optional[np.ndarray]]], out_prefix: Path) -> None:
    """Concatenate track pieces (``prefix.field.npy``), ordered by frame, rows deduplicated.

    Each part may carry a boolean mask of rows to keep. Streams in bounded chunks.
    """
    pieces = []
    for prefix, mask in parts:
        frames = np.load(f"{prefix}.frame.npy")
        keep = np.ones(len(frames), bool) if mask is None else mask
        pieces.append((prefix, frames, keep))
    order = sorted(range(len(pieces)), key=lambda i: (pieces[i][1][:1].tolist() or [0])[0])
    # drop rows whose frame an earlier piece already has
    seen: set[int] = set()
    plan = []
    for i in order:
        prefix, frames, keep = pieces[i]
        keep = keep.copy()
        for j, fr in enumerate(frames):
            if keep[j] and int(fr) in seen:
                keep[j] = False
            elif keep[j]:
                seen.add(int(fr))
        plan.append((prefix, keep))
    for name, (dtype, shape) in TRACK_FIELDS.items():
        total = sum(int(k.sum()) for _, k in plan)
        with open(f"{out_prefix}.{name}.npy", "wb") as fo:
            np.lib.format.write_array_header_2_0(
                fo, {"descr": dtype, "fortran_order": False, "shape": (total, *shape)})
            for prefix, keep in plan:
                src = Path(f"{prefix}.{name}.npy")
                header, n, _, _ = _npy_rows(src)
                rb = _row_bytes(dtype, shape)
                with open(src, "rb") as fi:
                    for a in range(0, n, _COPY_ROWS):
                        b = min(n, a + _COPY_ROWS)
                        fi.seek(header + a * rb)
                        block = np.frombuffer(fi.read((b - a) * rb), dtype=dtype)
                        block = block.reshape((b - a, *shape))[keep[a:b]]
                        fo.write(block.tobytes())


def concatenate_features(parts: Sequence[Path], out_dir: Path, id_maps: Sequence[dict[int, int]],
                         meta: dict[str, Any]) -> Path:
    """Join features directories of consecutive time chunks into one, renaming track ids.

    ``id_maps[i]`` maps the track ids of ``parts[i]`` to final person ids. Used when one
    recording is analysed in parallel chunks.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (dtype, shape) in FRAME_FIELDS.items():
        arrays = [np.load(Path(p) / f"frames.{name}.npy") for p in parts]
        np.save(out_dir / f"frames.{name}.npy", np.concatenate(arrays).astype(dtype) if arrays
                else np.zeros((0, *shape), dtype))
    groups: dict[int, list[Path]] = {}
    for part, id_map in zip(parts, id_maps):
        for tid in json.loads((Path(part) / META_FILE).read_text())["track_ids"]:
            groups.setdefault(int(id_map.get(tid, tid)), []).append(Path(part) / f"track_{tid}")
    for final, prefixes in groups.items():
        _merge_tracks([(p, None) for p in prefixes], out_dir / f"track_{final}")
    return write_meta(out_dir, meta, sorted(groups))


@dataclass
class TrackFeatures:
    """One person's per-frame arrays (memory-mapped; slicing reads only what it needs)."""

    track_id: int
    frame: np.ndarray
    timestamp: np.ndarray
    bbox: np.ndarray
    confidence: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray
    _landmarks: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return int(len(self.frame))

    def landmarks(self, rows: Any = slice(None), points: Any = slice(None)) -> np.ndarray:
        """Landmarks in frame pixels, float32, shape (rows, points, 3)."""
        packed = np.asarray(self._landmarks[rows])
        bbox = np.asarray(self.bbox[rows], dtype=np.float32)
        if packed.ndim == 2:
            return _unpack_landmarks(packed[None], bbox[None])[0][points]
        return _unpack_landmarks(packed, bbox)[:, points]

    def landmark_points(self, points: Sequence[int], chunk: int = 8192) -> np.ndarray:
        """A few landmarks for every row, read in chunks so memory stays small."""
        idx = np.asarray(points)
        out = np.empty((len(self), len(idx), 3), dtype=np.float32)
        for a in range(0, len(self), chunk):
            b = min(len(self), a + chunk)
            packed = np.asarray(self._landmarks[a:b, idx])
            out[a:b] = _unpack_landmarks(packed, np.asarray(self.bbox[a:b], dtype=np.float32))
        return out


@dataclass
class Features:
    """Everything the face pass stored for one recording."""

    directory: Path
    meta: dict[str, Any]
    frame_index: np.ndarray
    frame_time: np.ndarray
    tracks: dict[int, TrackFeatures]

    @property
    def duration(self) -> float:
        return float(self.meta.get("video", {}).get("duration", 0.0))


def is_complete(directory: Path) -> bool:
    return (Path(directory) / META_FILE).is_file()


def _inconsistent(directory: Path, what: str) -> CuewatchError:
    return CuewatchError(f"features folder {directory} is inconsistent ({what}): a broken "
                         "cache entry or an interrupted copy; delete the folder and analyse "
                         "again")


def load_features(directory: Path) -> Features:
    """Open a features directory (memory-mapped).

    Refuses, in one line (``CuewatchError``), a folder whose files disagree: a missing or
    unreadable array, a track listed with no frames (the writer only lists faces it saw),
    a track's arrays of different lengths, frame index and times of different lengths.
    """
    directory = Path(directory)
    try:
        meta = json.loads((directory / META_FILE).read_text())
        tracks = {}
        for tid in meta.get("track_ids", []):
            arrays = {name: np.load(directory / f"track_{tid}.{name}.npy", mmap_mode="r")
                      for name in TRACK_FIELDS}
            lengths = {name: len(a) for name, a in arrays.items()}
            if not lengths["frame"]:
                raise _inconsistent(directory, f"face track {tid} has no frames")
            if len(set(lengths.values())) != 1:
                raise _inconsistent(directory, f"face track {tid}'s arrays have different "
                                    f"lengths: {lengths}")
            tracks[int(tid)] = TrackFeatures(
                track_id=int(tid), frame=np.asarray(arrays["frame"]),
                timestamp=np.asarray(arrays["timestamp"]), bbox=np.asarray(arrays["bbox"]),
                confidence=np.asarray(arrays["confidence"]),
                blendshapes=np.asarray(arrays["blendshapes"], dtype=np.float32),
                pose=np.asarray(arrays["pose"]), _landmarks=arrays["landmarks"])
        index, times = np.load(directory / "frames.index.npy"), np.load(directory / "frames.time.npy")
    except (OSError, ValueError) as exc:  # missing, truncated or garbled files
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        name = getattr(exc, "filename", None)
        raise _inconsistent(directory, f"{Path(name).name}: {what}" if name else what) from None
    if len(index) != len(times):
        raise _inconsistent(directory, f"{len(index)} frame numbers for {len(times)} frame times")
    return Features(directory=directory, meta=meta, frame_index=index, frame_time=times,
                    tracks=tracks)
