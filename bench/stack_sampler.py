"""Where one thread spends its time, from its stack sampled every few ms.

A thread in the measured process looks at the other thread's frames, so no
tool has to be installed and the run is not slowed the way a tracing profiler
would slow it. The shares are of wall time: waits on the database count too.
"""

import sys
import threading
from collections import Counter
from types import FrameType

INTERVAL_SECONDS = 0.01
TOP = 12


class StackSampler:
    """Samples ``thread_id`` (the caller's thread by default) until stopped."""

    def __init__(self, thread_id: int | None = None) -> None:
        self._target = thread_id or threading.get_ident()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples = 0
        self._ours: Counter[str] = Counter()
        self._leaves: Counter[str] = Counter()

    def __enter__(self) -> "StackSampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(INTERVAL_SECONDS):
            frame = sys._current_frames().get(self._target)
            if frame is not None:
                self._record(frame)

    def _record(self, leaf: FrameType) -> None:
        self.samples += 1
        self._leaves[_package(leaf.f_code.co_filename)] += 1
        seen: set[str] = set()
        frame: FrameType | None = leaf
        while frame is not None:
            code = frame.f_code
            if "/creditdesk/" in code.co_filename:
                seen.add(f"{_module(code.co_filename)}.{code.co_name}")
            frame = frame.f_back
        self._ours.update(seen)

    def ours(self) -> list[tuple[str, float]]:
        """Our functions, by the share of samples with them on the stack."""
        return self._shares(self._ours)

    def leaves(self) -> list[tuple[str, float]]:
        """The innermost frame's package, by share of samples."""
        return self._shares(self._leaves)

    def _shares(self, counts: Counter[str]) -> list[tuple[str, float]]:
        total = max(self.samples, 1)
        return [(name, 100 * n / total) for name, n in counts.most_common(TOP)]


def _module(filename: str) -> str:
    tail = filename.rsplit("/creditdesk/", 1)[-1].removesuffix(".py")
    return "creditdesk." + tail.replace("/", ".")


def _package(filename: str) -> str:
    if "/creditdesk/" in filename:
        return "creditdesk"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    return "python (stdlib or C)"
