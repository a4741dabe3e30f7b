"""``creditdesk fake-billing VENDOR``: serve a fake billing system for a demo.

Each fake keeps its tenant in memory, speaks its vendor's API on 127.0.0.1
and prints the settings that point creditdesk at it. Adding a vendor is one
entry in ``FAKES``; its sub-command follows from it.
"""

from collections.abc import Callable
from typing import Annotated, Any

import click
import typer
import uvicorn
from typer.core import TyperGroup

from creditdesk.integrations.salesforce import fake as salesforce_fake
from creditdesk.integrations.sap import fake as sap_fake
from creditdesk.integrations.webhook import fake as webhook_fake
from creditdesk.integrations.webhook.settings import WebhookSettings
from creditdesk.integrations.zuora import fake as zuora_fake

# A fake takes the base URL it will be served on and returns the ASGI app
# and the lines to print.
FakeFactory = Callable[[str], tuple[Any, list[str]]]

DEMO_SALESFORCE_ACCOUNT = "001000000000001AAA"
DEMO_SAP_CUSTOMER = "17100001"
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - the demo's own


def _salesforce(url: str) -> tuple[Any, list[str]]:
    # The credentials printed are the ones the org checks.
    org = salesforce_fake.demo_org()
    return salesforce_fake.create_app(org), [
        f"fake Salesforce org on {url}; point creditdesk at it with:",
        f"  export CREDITDESK_SALESFORCE_LOGIN_URL={url}",
        f"  export CREDITDESK_SALESFORCE_CLIENT_ID={org.client_id}",
        f"  export CREDITDESK_SALESFORCE_CLIENT_SECRET={org.client_secret}",
        f"Any Account Id (such as {DEMO_SALESFORCE_ACCOUNT}) will do as an "
        "account's external_account_id.",
    ]


def _sap(url: str) -> tuple[Any, list[str]]:
    return sap_fake.create_app(), [
        f"fake SAP S/4HANA on {url}; point creditdesk at it with:",
        f"  export CREDITDESK_SAP_BASE_URL={url}",
        "  export CREDITDESK_SAP_USERNAME=CREDITDESK",
        "  export CREDITDESK_SAP_PASSWORD=fake-password",
        "  export CREDITDESK_SAP_SALES_ORGANIZATION=1010",
        "  export CREDITDESK_SAP_MATERIAL=CREDIT-ADJ",
        "  export CREDITDESK_SAP_REJECTION_REASON=10",
        f"Any sold-to party of up to 10 characters (such as {DEMO_SAP_CUSTOMER}) "
        "will do as an account's external_account_id.",
    ]


def _webhook(url: str) -> tuple[Any, list[str]]:
    # CREDITDESK_WEBHOOK_SECRET, when set here, is the one the receiver checks.
    secret = WebhookSettings().secret
    receiver = webhook_fake.Receiver(
        secret=secret.get_secret_value() if secret else DEMO_WEBHOOK_SECRET
    )
    return webhook_fake.create_app(receiver), [
        f"fake webhook receiver on {url}; point creditdesk at it with:",
        f"  export CREDITDESK_WEBHOOK_URL={url}{webhook_fake.PATH}",
        f"  export CREDITDESK_WEBHOOK_SECRET={receiver.secret}",
    ]


FAKES: dict[str, FakeFactory] = {
    "salesforce": _salesforce,
    "sap": _sap,
    "webhook": _webhook,
    "zuora": zuora_fake.demo,
}

HOST = "127.0.0.1"
DEFAULT_PORT = 8090


class _Vendors(TyperGroup):
    """Names the fakes there are when asked for one that is not."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            known = ", ".join(sorted(FAKES))
            ctx.fail(f"no fake billing system {cmd_name!r}; choose one of: {known}")
        return command


app = typer.Typer(
    cls=_Vendors,
    help="Serve a fake billing system on 127.0.0.1 for a demo.",
    no_args_is_help=True,
)


def fake_app(vendor: str, port: int) -> tuple[Any, list[str]]:
    """The fake for ``vendor`` to serve on ``port``, and what to tell the user."""
    return FAKES[vendor](f"http://{HOST}:{port}")


def _serve(vendor: str, port: int) -> None:
    asgi, lines = fake_app(vendor, port)
    for line in lines:
        typer.echo(line)
    uvicorn.run(asgi, host=HOST, port=port, log_level="warning")


def _command(vendor: str) -> Callable[[int], None]:
    def serve(
        port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    ) -> None:
        _serve(vendor, port)

    return serve


for _name in FAKES:
    app.command(_name, help=f"Serve a fake {_name} tenant until Ctrl-C.")(
        _command(_name)
    )
