"""A worker in its own process, for the crash test: it claims what is due at
``CRASH_WORKER_NOW`` and posts it to the fake Zuora at ``CRASH_WORKER_ZUORA_URL``.

The test kills it part-way, so it runs one batch and exits; exiting on its own
means the test's kill never came.
"""

import os
from datetime import datetime

from creditdesk.billing.tasks import PostCredit
from creditdesk.clock import FrozenClock
from creditdesk.config import Settings
from creditdesk.db import create_engine, make_session_factory
from creditdesk.outbox.registry import CREDIT_POST
from creditdesk.outbox.worker import Worker
from tests.integrations import zuora_support as z

LEASE_SECONDS = 30


def main() -> None:
    settings = Settings(
        database_url=os.environ["CREDITDESK_DATABASE_URL"],
        env="test",
        worker_batch_size=1,
        worker_lease_seconds=LEASE_SECONDS,
    )
    clock = FrozenClock(datetime.fromisoformat(os.environ["CRASH_WORKER_NOW"]))
    # A generous timeout: the fake holds its answer back until we are dead,
    # and a retry from us would only muddy what the test sees.
    url = os.environ["CRASH_WORKER_ZUORA_URL"]
    adapter = z.connect(url, clock, timeout_seconds=30).adapter
    engine = create_engine(settings.database_url)
    worker = Worker(
        make_session_factory(engine),
        clock=clock,
        settings=settings,
        name="crash-worker",
        handlers={CREDIT_POST: PostCredit(lambda *_a, **_k: adapter)},
    )
    worker.run_once()


if __name__ == "__main__":
    main()
