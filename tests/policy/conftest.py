"""A fresh database for tests whose work must be committed, so that new
policy versions never come into force under the rest of the run."""

from collections.abc import Iterator

import pytest

from tests.databases import scratch_database, server_url


@pytest.fixture(scope="module")
def fresh_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database on the run's backend, one per test module."""
    with scratch_database(
        server_url(),
        prefix="creditdesk_policy",
        directory=tmp_path_factory.mktemp("policy"),
    ) as url:
        yield url
