"""Closed-loop HTTP load: N keep-alive clients, each on its own thread."""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

BodyFor = Callable[[int], dict[str, Any]]

REQUEST_TIMEOUT_SECONDS = 60.0


@dataclass
class PhaseResult:
    """What one measured phase saw from the client side."""

    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    outcomes: Counter[str]
    client_cpu_seconds: float
    first_error: str | None = None
    server_cpu_seconds: float | None = None
    # Busy share of all the machine's cores: the database server counts too.
    machine_busy: float | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 300)

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, round(fraction * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1] * 1000


@dataclass
class _Shared:
    path: str
    body_for: BodyFor
    stop_at: int
    next_index: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    first_error: str | None = None

    def take(self) -> int | None:
        with self.lock:
            if self.next_index >= self.stop_at:
                return None
            self.next_index += 1
            return self.next_index - 1

    def record(self, latency: float, response: httpx.Response) -> None:
        outcome = "-"
        if response.status_code < 300:
            outcome = str(response.json().get("status", "created"))
        with self.lock:
            self.latencies.append(latency)
            self.statuses[response.status_code] += 1
            self.outcomes[outcome] += 1
            if response.status_code >= 300 and self.first_error is None:
                self.first_error = f"{response.status_code} {response.text[:300]}"


@contextmanager
def clients(base_url: str, count: int, headers: dict[str, str]) -> Iterator[list]:
    """``count`` keep-alive clients, reused across phases."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                httpx.Client(
                    base_url=base_url,
                    headers=headers,
                    timeout=REQUEST_TIMEOUT_SECONDS,
                )
            )
            for _ in range(count)
        ]


def run_phase(
    pool: list[httpx.Client],
    path: str,
    body_for: BodyFor,
    *,
    first: int,
    count: int,
) -> PhaseResult:
    """Send requests ``first`` .. ``first + count - 1``, all clients at once."""
    shared = _Shared(path, body_for, stop_at=first + count, next_index=first)
    threads = [
        threading.Thread(target=_client_loop, args=(client, shared), daemon=True)
        for client in pool
    ]
    cpu_start = time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start

    return PhaseResult(
        seconds=seconds,
        latencies=shared.latencies,
        statuses=shared.statuses,
        outcomes=shared.outcomes,
        client_cpu_seconds=time.process_time() - cpu_start,
        first_error=shared.first_error,
    )


def _client_loop(client: httpx.Client, shared: _Shared) -> None:
    while (index := shared.take()) is not None:
        body = shared.body_for(index)
        start = time.perf_counter()
        response = client.post(shared.path, json=body)
        shared.record(time.perf_counter() - start, response)
