"""One uvicorn server process on a free loopback port, and its memory."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class Server:
    pid: int
    base_url: str
    log_path: Path

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, in KiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        found = {}
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
        return found

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        # After the command name: utime and stime are fields 14 and 15 of stat(5).
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, all cores, so far."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in first]
    # idle and iowait are the fourth and fifth counters of the cpu line.
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(
    database_url: str, *, log_dir: Path, log_level: str, worker: bool = True
) -> Iterator[Server]:
    """Run ``bench.server:create`` under uvicorn until the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "CREDITDESK_DATABASE_URL": database_url,
        "CREDITDESK_ENV": "production",
        "CREDITDESK_LOG_LEVEL": log_level.upper(),
        "CREDITDESK_SECRET_KEY": secrets.token_urlsafe(32),
        "CREDITDESK_BENCH_WORKER": "1" if worker else "0",
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.server:create",
        "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning", "--lifespan", "on",
    ]  # fmt: skip
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=log_file
        )
        server = Server(process.pid, f"http://127.0.0.1:{port}", log_path)
        try:
            _wait_healthy(process, server)
            yield server
        finally:
            _stop(process)


def _wait_healthy(process: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the server exited at start-up:\n{tail}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not answer /healthz in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # SIGINT lets uvicorn run the lifespan shutdown, which stops the worker.
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
