"""``creditdesk fake-billing zuora`` serves a tenant creditdesk can post to."""

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from typer.testing import CliRunner

from creditdesk.cli import app
from creditdesk.clock import FrozenClock
from creditdesk.integrations.cli import fake_app
from creditdesk.integrations.fakes.server import free_port, serve
from creditdesk.integrations.zuora.adapter import ZuoraAdapter, build_client
from creditdesk.integrations.zuora.settings import ZuoraSettings
from tests.integrations import zuora_support as z

NOW = datetime(2024, 6, 7, 8, 9, tzinfo=UTC)
_START_LINES = 7


def _exported(lines: list[str]) -> dict[str, str]:
    pairs = (
        line.strip().removeprefix("export ").split("=", 1)
        for line in lines
        if line.strip().startswith("export ")
    )
    return dict(pairs)


def _settings(lines: list[str]) -> ZuoraSettings:
    """The settings the command says to export."""
    values = {
        name.removeprefix("CREDITDESK_ZUORA_").lower(): value
        for name, value in _exported(lines).items()
    }
    return ZuoraSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_demo_tenant_takes_credits_with_the_printed_settings() -> None:
    port = free_port()
    asgi, lines = fake_app("zuora", port)
    settings = _settings(lines)
    assert settings.base_url == f"http://127.0.0.1:{port}"
    asked = replace(
        z.request(None),
        external_account_id="A00000001",
        invoice_ref="INV00000001",
    )

    with serve(asgi, port=port):
        client = build_client(settings, sleep=lambda _: None)
        adapter = ZuoraAdapter(settings, clock=FrozenClock(NOW), client=client)
        result = adapter.post_credit(asked)

    assert (result.external_ref, result.applied) == ("CM00000001", True)


def test_the_command_serves_the_fake_until_stopped() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "creditdesk", "fake-billing", "zuora"]
    with subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(_START_LINES)]
            exported = _exported(lines)
            url = exported["CREDITDESK_ZUORA_BASE_URL"]
            token = _token_when_up(url, exported)
        finally:
            process.terminate()
            process.wait(timeout=10)

    assert url == f"http://127.0.0.1:{port}"
    assert token["token_type"] == "bearer"


def _token_when_up(url: str, exported: dict[str, str]) -> dict[str, object]:
    form = {
        "grant_type": "client_credentials",
        "client_id": exported["CREDITDESK_ZUORA_CLIENT_ID"],
        "client_secret": exported["CREDITDESK_ZUORA_CLIENT_SECRET"],
    }
    # The lines are printed just before the server binds its port; the
    # transport retries the connection until it does.
    transport = httpx.HTTPTransport(retries=8)
    with httpx.Client(base_url=url, transport=transport, timeout=5) as client:
        return client.post("/oauth/token", data=form).json()


def test_an_unknown_vendor_is_named_with_the_choices() -> None:
    result = CliRunner().invoke(app, ["fake-billing", "sapx", "--port", "1"])

    assert result.exit_code == 2
    # The error box may wrap the list of names, so look for each on its own.
    assert "no fake billing system 'sapx'" in result.output
    for name in ("salesforce", "sap,", "webhook", "zuora"):
        assert name in result.output


@pytest.mark.parametrize(
    ("vendor", "setting"),
    [
        ("salesforce", "CREDITDESK_SALESFORCE_LOGIN_URL"),
        ("webhook", "CREDITDESK_WEBHOOK_URL"),
    ],
)
def test_the_other_fakes_are_served_and_say_how_to_reach_them(
    vendor: str, setting: str
) -> None:
    asgi, lines = fake_app(vendor, 8123)

    assert callable(asgi)
    assert any(setting in line and "http://127.0.0.1:8123" in line for line in lines)
