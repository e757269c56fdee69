"""The face pass over one recording: video -> per-track features on disk.

``analyze_video`` is a pure function of (video, settings): it reads the video and the
model, writes one features directory and touches no shared state, so research batches
can run it anywhere (its arguments pickle). Long recordings are cut into time chunks
whose number depends only on the duration (so results do not depend on how many workers
ran them); the chunks run in parallel threads of this process, each with its own decoder
and MediaPipe graphs, and their tracklets are joined into persons by the same linker that
re-identifies a face after a break (``cuewatch.faces.tracking.link_tracklets``).

Threads, not processes: MediaPipe's tasks API calls its C library through ctypes, which
releases the GIL, and each landmarker runs on its own dispatch thread, so two chunk
threads keep two cores busy. One process holds the Python runtime, MediaPipe and the
libraries once instead of once per worker: a two-person 1080p analysis peaked at 756 MB
as a parent and two worker processes, and at 485 MB as one process with two threads
(with ``cuewatch.faces.malloc_arenas``).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cuewatch import __version__
from cuewatch.faces.malloc_arenas import limit_malloc_arenas
from cuewatch.faces.tracking import TrackletSummary, link_tracklets
from cuewatch.features.folder import FeaturesWriter, concatenate_features
from cuewatch.media.video import FrameReader, VideoInfo, probe_video, read_ahead
from cuewatch.options import AnalysisSettings
from cuewatch.progress import Progress

#: recordings shorter than this are analysed in one piece (a second decoder and set of
#: graphs would cost more than it saves).
MIN_SPLIT_S = 30.0
#: about this many seconds per chunk for long recordings (always an even count, so two
#: workers share the work evenly).
CHUNK_TARGET_S = 600.0
#: tracklet ids of chunk i start at i * this.
CHUNK_ID_STRIDE = 1_000_000
#: landmark-model threads (litert engine) of a chunk that runs alone (a recording under
#: ``MIN_SPLIT_S``, analysed in one piece): the second core would otherwise only decode.
#: Chunks running side by side keep one each, as two chunk threads already fill two cores
#: (two threads each measured slower there). Never more than the cores allowed (``workers``).
ALONE_LANDMARK_THREADS = 2


#: decoder threads of a chunk that shares the cores with others (FFmpeg's own choice, one
#: per core, when it runs alone): with every core already busy, a second decoder thread only
#: adds hand-offs. On the bench's two-face 1080p minute (two chunks side by side) one thread
#: took 19.7-20.0 s against 21.2-22.3 s, 37.2-37.8 s of CPU against 39.8-42.6 s.
SHARED_DECODE_THREADS = 1


def decode_threads(landmark_threads: int) -> int:
    """Decoder threads of a chunk (0: FFmpeg's choice) given its ``landmark_threads``: a
    chunk that runs alone gets more than one landmark thread, chunks side by side one."""
    return 0 if landmark_threads > 1 else SHARED_DECODE_THREADS


def landmark_threads(running_chunks: int, cores: int) -> int:
    """Landmark-model threads per chunk when ``running_chunks`` run at once on ``cores``."""
    if running_chunks > 1:
        return 1
    return max(1, min(ALONE_LANDMARK_THREADS, cores))


def plan_chunks(duration: float) -> list[tuple[float, Optional[float]]]:
    """Time chunks (start, end) for a recording; the last ends at None (the end)."""
    if duration < MIN_SPLIT_S:
        return [(0.0, None)]
    n = 2 * max(1, int(round(duration / (2 * CHUNK_TARGET_S))))
    step = duration / n
    return [(i * step, (i + 1) * step if i < n - 1 else None) for i in range(n)]


@dataclass
class ChunkResult:
    """What one chunk's worker hands back (small and picklable)."""

    directory: str
    tracklets: list[TrackletSummary] = field(default_factory=list)
    n_frames: int = 0
    decoded: int = 0
    last_timestamp: float = 0.0
    truncated: bool = False
    searches: int = 0


#: the positional arguments of ``analyze_chunk`` up to its progress: (info, settings, model
#: path, directory, start_s, end_s, id_base).
ChunkJob = tuple[VideoInfo, AnalysisSettings, str, str, float, Optional[float], int]


def analyze_chunk(info: VideoInfo, settings: AnalysisSettings, model_path: str, directory: str,
                  start_s: float, end_s: Optional[float], id_base: int,
                  progress: Optional[Progress] = None,
                  finish: Optional[Callable[[ChunkResult], tuple[dict, dict[int, int]]]] = None,
                  threads: int = 1) -> ChunkResult:
    """Analyse one time chunk into a features directory with provisional tracklet ids.

    Runs on the calling thread (one chunk thread each when chunks run in parallel).
    ``finish`` turns the result into the final (meta, id map), so a recording analysed in
    one piece is written only once. ``threads``: the landmark model's (``landmark_threads``);
    the result does not depend on it.
    """
    from cuewatch.faces.tracking import FacePipeline

    progress = progress or Progress()
    writer = FeaturesWriter(Path(directory))
    reader = FrameReader(info, settings, start_s, end_s, decode_threads(threads))
    end = end_s if end_s is not None else max(info.duration, start_s + 1e-3)
    span = max(1e-3, end - start_s)
    result = ChunkResult(directory=str(directory))
    with FacePipeline(Path(model_path), settings, id_base=id_base, landmark_threads=threads) as faces:
        for frame in read_ahead(reader):
            observations = faces.process(frame.image, frame.timestamp)
            writer.add(frame.index, frame.timestamp, observations)
            result.n_frames += 1
            if result.n_frames % 8 == 0:
                progress.check()
                progress.report((frame.timestamp - start_s) / span, "finding and tracking faces")
        result.tracklets = faces.summaries()
        result.searches = faces.searches
    result.decoded = reader.decoded
    result.last_timestamp = reader.last_timestamp
    result.truncated = reader.truncated
    if finish is None:
        writer.finish({"chunk_start": start_s, "chunk_end": end_s})
    else:
        writer.finish(*finish(result))
    return result


def analyze_video(video_path: str | os.PathLike[str], settings: AnalysisSettings,
                  model_path: str | os.PathLike[str], out_dir: Path,
                  progress: Optional[Progress] = None, workers: Optional[int] = None) -> Path:
    """Find, track and landmark every face; write the features into ``out_dir``.

    Returns the features directory (``out_dir`` itself, complete once its ``meta.json``
    exists). ``workers`` caps the chunk threads (default: one per CPU core, never more than
    the number of chunks); the result does not depend on it. Runs on the calling thread
    plus its chunk threads; call it from a worker thread in an app. Raises ``VideoError``
    for a video that cannot be read and ``Cancelled`` when the progress token is set.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    limit_malloc_arenas()
    info = probe_video(video_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = plan_chunks(info.duration)
    cores = workers or (os.cpu_count() or 1)
    n_workers = max(1, min(len(chunks), cores))
    threads = landmark_threads(n_workers, cores)
    model = str(Path(model_path).resolve())

    def final(raw: list[ChunkResult]) -> tuple[dict[str, Any], dict[int, int]]:
        summaries = [s for r in raw for s in r.tracklets]
        last = raw[-1]
        meta = {
            "cuewatch_version": __version__,
            "video": info.to_dict(),
            "settings": settings.to_dict(),
            "model_path": model,
            "analysed_frames": sum(r.n_frames for r in raw),
            "decoded_frames": sum(r.decoded for r in raw),
            "decoded_until": last.last_timestamp,
            "truncated": last.truncated,
            "chunks": [[s, e] for s, e in chunks],
            "workers": n_workers if len(chunks) > 1 else 1,
            "tracklets": len(summaries),
            "searches": sum(r.searches for r in raw),
            "seconds": round(time.perf_counter() - started, 3),
        }
        return meta, link_tracklets(summaries)

    if len(chunks) == 1:
        analyze_chunk(info, settings, model, str(out_dir), 0.0, None, 0, progress,
                      finish=lambda r: final([r]), threads=threads)
    else:
        parts_dir = out_dir / "chunks"
        jobs: list[ChunkJob] = [(info, settings, model, str(parts_dir / f"{i:03d}"), start, end,
                 i * CHUNK_ID_STRIDE) for i, (start, end) in enumerate(chunks)]
        try:
            if n_workers == 1:
                raw = []
                for i, job in enumerate(jobs):
                    sub = progress.scaled(i / len(jobs), (i + 1) / len(jobs))
                    raw.append(analyze_chunk(*job, sub, threads=threads))
            else:
                raw = _run_parallel(jobs, n_workers, progress)
            meta, id_map = final(raw)
            concatenate_features([Path(r.directory) for r in raw], out_dir,
                                 [id_map] * len(raw), meta)
        finally:  # done, cancelled or failed: the chunk pieces are never needed again
            shutil.rmtree(parts_dir, ignore_errors=True)
    progress.report(1.0, "faces done")
    return out_dir


class _StopToken:
    """Set when the user cancels or another chunk failed: every chunk thread stops."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.event = threading.Event()

    def is_set(self) -> bool:
        return self.event.is_set() or self.progress.cancelled()


def _run_parallel(jobs: list[ChunkJob], n_workers: int, progress: Progress) -> list[ChunkResult]:
    """Chunks on ``n_workers`` threads; the calling thread alone reports progress."""
    done_fraction = [0.0] * len(jobs)
    stop = _StopToken(progress)

    def tracker(i: int) -> Progress:
        return Progress(lambda f, _m: done_fraction.__setitem__(i, f), stop)

    with ThreadPoolExecutor(n_workers, thread_name_prefix="cuewatch-chunk") as pool:
        futures = [pool.submit(analyze_chunk, *job, tracker(i)) for i, job in enumerate(jobs)]
        try:
            while True:
                finished, pending = wait(futures, timeout=0.25, return_when=FIRST_EXCEPTION)
                progress.check()
                progress.report(sum(done_fraction) / len(jobs), "finding and tracking faces")
                if not pending or any(f.exception() for f in finished):
                    break
        finally:
            stop.event.set()  # a no-op once all are done; otherwise stops the others
        return [f.result() for f in futures]
