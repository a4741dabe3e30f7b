"""structlog set-up: JSON lines in production, readable console in development.

Log lines go to whatever ``sys.stderr`` is when each line is written, not the
stream that existed at start-up: a stream swapped by a test runner or a
daemon manager and later closed must not break logging.
"""

import logging
import sys
import threading
from typing import Any

import structlog


class CurrentStderrLogger:
    """The minimal logger structlog needs, writing one line per event."""

    _lock = threading.Lock()

    def msg(self, message: str) -> None:
        with self._lock:
            stream = sys.stderr
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = msg
    error = critical = exception = fatal = failure = msg


def _logger_factory(*_args: Any) -> CurrentStderrLogger:
    return CurrentStderrLogger()


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=True,
    )
