"""Audit verification speed on a fresh database, via ``bench.audit_verify``."""

import importlib.util
from dataclasses import dataclass
from typing import Any

from bench.databases import pg_server_url

RATE_KEYS = ("entries_per_second", "entries_per_s", "entries/s", "rate")


@dataclass
class AuditResult:
    backend: str
    details: dict[str, Any]

    @property
    def entries_per_second(self) -> float | None:
        for key in RATE_KEYS:
            if isinstance(self.details.get(key), int | float):
                return float(self.details[key])
        return None


def available() -> bool:
    return importlib.util.find_spec("bench.audit_verify") is not None


def run_backend(backend: str, *, entries: int) -> AuditResult:
    """Seed and verify ``entries`` audit entries on a new ``backend`` database."""
    from bench import audit_verify

    # It makes its own database: a temp file, or one on the named PG server.
    url = "sqlite://" if backend == "sqlite" else pg_server_url()
    details = audit_verify.run(url, entries=entries)
    return AuditResult(backend=backend, details=dict(details))
