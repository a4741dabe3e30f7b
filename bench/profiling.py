"""Sample the server with py-spy while the credit phase runs (``--profile``).

py-spy is a development tool and not a dependency of the project: install it
with ``.venv/bin/pip install py-spy`` to use this.
"""

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

STOP_TIMEOUT_SECONDS = 30.0
TOP = 15


@dataclass
class Profile:
    raw_path: Path
    samples: int = 0
    # Only samples holding the GIL count: this is where the CPU goes.
    # Share of samples in which one of our functions is on the stack.
    ours: list[tuple[str, float]] = field(default_factory=list)
    # Share of samples whose innermost frame is in each top-level package.
    leaves: list[tuple[str, float]] = field(default_factory=list)


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def record(pid: int, raw_path: Path) -> Iterator[Profile]:
    """Record collapsed stacks of ``pid`` for the duration of the block."""
    executable = py_spy()
    if executable is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    profile = Profile(raw_path=raw_path)
    command = [
        executable, "record", "--pid", str(pid), "--format", "raw",
        "--function", "--gil", "--nonblocking", "--output", str(profile.raw_path),
    ]  # fmt: skip
    recorder = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield profile
    finally:
        # SIGINT makes py-spy write what it has sampled so far.
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=STOP_TIMEOUT_SECONDS)
    summarise(profile)


def summarise(profile: Profile) -> None:
    """Fill in the hot spots from the collapsed stacks py-spy wrote."""
    if not profile.raw_path.exists():
        return
    ours: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in profile.raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        profile.samples += count
        leaves[_package(frames[-1])] += count
        for name in {f for f in frames if "creditdesk/" in f or "bench/" in f}:
            ours[name] += count

    total = profile.samples or 1
    profile.ours = [(n, 100 * c / total) for n, c in ours.most_common(TOP)]
    profile.leaves = [(n, 100 * c / total) for n, c in leaves.most_common(TOP)]


def _package(frame: str) -> str:
    # A frame reads "function (path/to/module.py:line)".
    _, _, location = frame.partition(" (")
    path = location.rsplit(":", 1)[0]
    parts = path.split("/")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    return parts[0] if parts[0] else path
