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
from creditdesk.integrations.zuora import fake as zuora_fake

# A fake takes the base URL it will be served on and returns the ASGI app
# and the lines to print.
FakeFactory = Callable[[str], tuple[Any, list[str]]]


def _salesforce(url: str) -> tuple[Any, list[str]]:
    return salesforce_fake.create_app(), [
        f"fake Salesforce org on {url}; point creditdesk at it with:",
        f"  export CREDITDESK_SALESFORCE_LOGIN_URL={url}",
        "  export CREDITDESK_SALESFORCE_CLIENT_ID=demo",
        "  export CREDITDESK_SALESFORCE_CLIENT_SECRET=demo",
    ]


def _sap(url: str) -> tuple[Any, list[str]]:
    return sap_fake.create_app(), [
        f"fake SAP S/4HANA on {url}; point creditdesk at it with:",
        f"  export CREDITDESK_SAP_BASE_URL={url}",
        "  export CREDITDESK_SAP_USERNAME=CREDITDESK",
        "  export CREDITDESK_SAP_PASSWORD=fake-password",
        "  export CREDITDESK_SAP_SALES_ORGANIZATION=1010",
        "  export CREDITDESK_SAP_MATERIAL=CREDIT-ADJ",
    ]


def _webhook(url: str) -> tuple[Any, list[str]]:
    return webhook_fake.create_app(), [
        f"fake webhook receiver on {url}; point creditdesk at it with:",
        f"  export CREDITDESK_WEBHOOK_URL={url}/credits",
        "  export CREDITDESK_WEBHOOK_SECRET=<the same secret for both>",
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
