"""A tqdm progress bar on stderr behind the core's Progress protocol."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

from tqdm import tqdm

from cuewatch.progress import Progress


@contextmanager
def progress_bar(label: str, quiet: bool = False,
                 cancel: Optional[threading.Event] = None) -> Iterator[Progress]:
    """Yields a Progress that drives one bar (or nothing with ``quiet``)."""
    if quiet:
        yield Progress(None, cancel)
        return
    bar = tqdm(total=1000, desc=label, file=sys.stderr, leave=False, unit="‰",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")
    last = [0]

    def callback(fraction: float, message: str) -> None:
        n = int(fraction * 1000)
        if n > last[0]:
            bar.update(n - last[0])
            last[0] = n
        if message:
            bar.set_postfix_str(message, refresh=False)

    try:
        yield Progress(callback, cancel)
    finally:
        bar.close()
