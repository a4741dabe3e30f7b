"""The shared vendor call path against a small fake served over real HTTP."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from fastapi import FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from creditdesk.billing.adapters import BillingRejectedError, BillingTransientError
from creditdesk.integrations.auth import BasicAuth, ClientCredentials
from creditdesk.integrations.fakes.server import (
    Fault,
    FaultInjector,
    Faults,
    free_port,
    serve,
)
from creditdesk.integrations.http import RetryPolicy, VendorClient, json_body


@dataclass
class Vendor:
    url: str
    faults: Faults
    tokens_issued: list[str] = field(default_factory=list)
    seen_auth: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def vendor() -> Iterator[Vendor]:
    app = FastAPI()
    faults = Faults()
    state = Vendor(url="", faults=faults)

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        if form.get("client_secret") != ["s3cret"]:
            return Response(status_code=401)
        issued = f"tok-{len(state.tokens_issued) + 1}"
        state.tokens_issued.append(issued)
        body = {"access_token": issued, "expires_in": 3600, "token_type": "bearer"}
        return JSONResponse(body)

    @app.get("/things/{name}")
    def thing(name: str, authorization: str = Header("")) -> Response:
        state.seen_auth.append(authorization)
        if authorization.removeprefix("Bearer ") in state.revoked:
            return Response(status_code=401)
        if name == "missing":
            return Response('{"error": "no such thing"}', status_code=404)
        return Response(f'{{"name": "{name}"}}', media_type="application/json")

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    with serve(FaultInjector(app, faults)) as url:
        state.url = url
        yield state


def _client(vendor: Vendor, **kw: object) -> tuple[VendorClient, list[float]]:
    waits: list[float] = []
    client = VendorClient(
        vendor="acme",
        base_url=vendor.url,
        retry=RetryPolicy(attempts=3, base_seconds=0.01, max_wait_seconds=5),
        sleep=waits.append,
        **kw,  # type: ignore[arg-type]
    )
    return client, waits


def test_a_transient_failure_is_retried_and_retry_after_honoured(
    vendor: Vendor,
) -> None:
    vendor.faults.add(Fault("GET", "/things/a", status=503, retry_after="2"))
    vendor.faults.add(Fault("GET", "/things/a", status=429, retry_after="1"))
    client, waits = _client(vendor)

    response = client.request("GET", "/things/a", retry_safe=True)

    assert json_body(response, "acme") == {"name": "a"}
    assert waits == [2.0, 1.0]


def test_a_write_without_a_key_is_not_retried_in_process(vendor: Vendor) -> None:
    vendor.faults.add(Fault("GET", "/things/b", status=502))
    client, waits = _client(vendor)

    with pytest.raises(BillingTransientError, match="502"):
        client.request("GET", "/things/b", retry_safe=False)
    assert waits == []


def test_a_long_retry_after_goes_back_to_the_outbox(vendor: Vendor) -> None:
    vendor.faults.add(Fault("GET", "/things/c", status=503, retry_after="120"))
    client, waits = _client(vendor)

    with pytest.raises(BillingTransientError) as raised:
        client.request("GET", "/things/c", retry_safe=True)
    assert raised.value.retry_after_seconds == 120.0
    assert waits == []


def test_a_refusal_is_not_retried_and_keeps_the_vendors_words(vendor: Vendor) -> None:
    client, waits = _client(vendor)

    with pytest.raises(BillingRejectedError, match=r"404.*no such thing"):
        client.request("GET", "/things/missing", retry_safe=True)
    assert waits == []


def test_attempts_run_out(vendor: Vendor) -> None:
    vendor.faults.add(Fault("GET", "/things/d", status=500, times=3))
    client, waits = _client(vendor)

    with pytest.raises(BillingTransientError):
        client.request("GET", "/things/d", retry_safe=True)
    assert len(waits) == 2


def test_a_malformed_answer_is_transient(vendor: Vendor) -> None:
    vendor.faults.add(Fault("GET", "/things/e", kind="malformed"))
    client, _ = _client(vendor)

    response = client.request("GET", "/things/e", retry_safe=True)

    with pytest.raises(BillingTransientError, match="malformed"):
        json_body(response, "acme")


def test_a_connection_cut_mid_answer_is_transient_and_retried(
    vendor: Vendor,
) -> None:
    vendor.faults.add(Fault("GET", "/things/g", kind="reset", times=2))
    client, waits = _client(vendor)

    response = client.request("GET", "/things/g", retry_safe=True)

    assert response.json() == {"name": "g"}
    assert len(waits) == 2
    vendor.faults.add(Fault("GET", "/things/g", kind="reset", times=3))
    with pytest.raises(BillingTransientError, match="RemoteProtocolError"):
        client.request("GET", "/things/g", retry_safe=True)


def test_a_closed_port_is_transient() -> None:
    client = VendorClient(
        vendor="acme",
        base_url=f"http://127.0.0.1:{free_port()}",
        retry=RetryPolicy(attempts=2, base_seconds=0.01),
        sleep=lambda _: None,
    )

    with pytest.raises(BillingTransientError, match="ConnectError"):
        client.request("GET", "/things/f", retry_safe=True)


def test_the_token_is_cached_and_fetched_again_when_refused(vendor: Vendor) -> None:
    auth = ClientCredentials("/oauth/token", "me", SecretStr("s3cret"))
    client, _ = _client(vendor, auth=auth)
    before = len(vendor.tokens_issued)

    client.request("GET", "/things/g", retry_safe=True)
    client.request("GET", "/things/g", retry_safe=True)
    assert len(vendor.tokens_issued) == before + 1
    vendor.revoked.add(vendor.tokens_issued[-1])

    client.request("GET", "/things/g", retry_safe=True)

    assert len(vendor.tokens_issued) == before + 2
    assert vendor.seen_auth[-1] == f"Bearer {vendor.tokens_issued[-1]}"


def test_an_expired_token_is_renewed_before_it_is_sent(vendor: Vendor) -> None:
    ticks = [0.0]
    auth = ClientCredentials(
        "/oauth/token", "me", SecretStr("s3cret"), monotonic=lambda: ticks[0]
    )
    client, _ = _client(vendor, auth=auth)
    client.request("GET", "/things/h", retry_safe=True)
    before = len(vendor.tokens_issued)

    ticks[0] = 3600 - 30  # inside the early-renewal margin

    client.request("GET", "/things/h", retry_safe=True)
    assert len(vendor.tokens_issued) == before + 1


def test_wrong_client_credentials_are_a_refusal(vendor: Vendor) -> None:
    auth = ClientCredentials("/oauth/token", "me", SecretStr("wrong"))
    client, _ = _client(vendor, auth=auth)

    with pytest.raises(BillingRejectedError, match="401"):
        client.request("GET", "/things/i", retry_safe=True)


def test_basic_auth_is_sent(vendor: Vendor) -> None:
    client, _ = _client(vendor, auth=BasicAuth("user", SecretStr("pw")))

    client.request("GET", "/things/j", retry_safe=True)

    assert vendor.seen_auth[-1] == "Basic dXNlcjpwdw=="


def test_faults_can_be_queued_over_http(vendor: Vendor) -> None:
    client, _ = _client(vendor)
    control = client.http
    control.post(
        "/__faults", json={"method": "GET", "path_prefix": "/things/k", "status": 418}
    )

    with pytest.raises(BillingRejectedError, match="418"):
        client.request("GET", "/things/k", retry_safe=True)
    assert client.request("GET", "/things/k", retry_safe=True).status_code == 200


def test_decimal_amounts_travel_as_json_numbers_without_floats(vendor: Vendor) -> None:
    client, _ = _client(vendor)
    sent = {"amount": Decimal("10.10"), "items": [Decimal("0.30"), 2, "x"]}

    response = client.request("POST", "/echo", retry_safe=True, json=sent)

    assert response.content == b'{"amount":10.10,"items":[0.30,2,"x"]}'
    assert json_body(response, "acme") == sent
