"""Signing in to Salesforce with the JWT bearer flow, against the fake org.

A key pair is made for the run; the fake org holds the public half, as a
connected app holds the certificate.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from creditdesk.billing.adapters import BillingRejectedError, PostingRequest
from creditdesk.clock import FrozenClock
from creditdesk.integrations.fakes.server import serve
from creditdesk.integrations.http import RetryPolicy, VendorClient
from creditdesk.integrations.salesforce import fake
from creditdesk.integrations.salesforce.adapter import SalesforceAdapter
from creditdesk.integrations.salesforce.client import (
    JWT_BEARER_GRANT,
    OAUTH_PATH,
    SalesforceClient,
    SalesforceJwtLogin,
)
from creditdesk.integrations.salesforce.fake_org import NOTE, Org
from creditdesk.integrations.salesforce.settings import SalesforceSettings
from tests.integrations.test_salesforce import START

USER = "integration@creditdesk.example"


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return _pem_pair()


@pytest.fixture(scope="module")
def org(keys: tuple[str, str]) -> Iterator[Org]:
    org = Org(jwt_public_key=keys[1], jwt_users={USER})
    with serve(fake.create_app(org)) as url:
        org.instance_url = url
        yield org


def _settings(org: Org, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": org.instance_url,
        "client_id": org.client_id,
        "auth_flow": "jwt_bearer",
        "username": USER,
        "timeout_seconds": 0.5,
    } | overrides
    return SalesforceSettings(**values)


def _login(org: Org, key: str, **overrides: Any) -> SalesforceJwtLogin:
    values: dict[str, Any] = {
        "token_path": f"{org.instance_url}{OAUTH_PATH}",
        "client_id": org.client_id,
        "username": USER,
        "audience": org.jwt_audience,
        "signing_key": lambda: SecretStr(key),
    } | overrides
    return SalesforceJwtLogin(**values)


def _sign_in(org: Org, login: SalesforceJwtLogin) -> dict[str, str]:
    client = VendorClient(
        vendor="salesforce",
        base_url=org.instance_url or "",
        timeout_seconds=0.5,
        retry=RetryPolicy(attempts=1),
        auth=login,
    )
    return login.headers(client)


def _request(org: Org) -> PostingRequest:
    account_id = org.add_account()
    return PostingRequest(
        idempotency_key=f"test-sf-jwt-{account_id}",
        credit_id=1,
        credit_number="CR-1",
        account_number="ACC-1",
        external_account_id=account_id,
        amount_minor=990,
        currency="GBP",
        reason="goodwill",
        credit_type="goodwill",
        invoice_ref=None,
        memo_text="Credit CR-1 (goodwill, goodwill)",
    )


def test_the_assertion_names_the_app_the_user_and_the_login_server(
    org: Org, keys: tuple[str, str]
) -> None:
    login = _login(org, keys[0], wall_clock=lambda: 1_000_000.0)

    header = jwt.get_unverified_header(login.assertion())
    claims = jwt.decode(
        login.assertion(),
        keys[1],
        algorithms=["RS256"],
        audience=org.jwt_audience,
        options={"verify_exp": False},
    )

    assert header["alg"] == "RS256"
    assert claims == {
        "iss": org.client_id,
        "sub": USER,
        "aud": "https://login.salesforce.com",
        "exp": 1_000_180,
    }


def test_a_credit_is_posted_after_signing_in_with_an_inline_key(
    org: Org, keys: tuple[str, str]
) -> None:
    settings = _settings(org, private_key=SecretStr(keys[0]))
    client = SalesforceClient.connect(settings, retry=RetryPolicy(attempts=1))
    adapter = SalesforceAdapter(client, settings=settings, clock=FrozenClock(START))
    issued = org.tokens_issued
    request = _request(org)

    adapter.post_credit(request)

    assert org.tokens_issued == issued + 1
    notes = [
        r for r in org.rows(NOTE) if r.get(org.key_field) == request.idempotency_key
    ]
    assert len(notes) == 1


def test_the_key_can_come_from_a_file(
    org: Org, keys: tuple[str, str], tmp_path: Path
) -> None:
    key_file = tmp_path / "salesforce.pem"
    key_file.write_text(keys[0])
    settings = _settings(org, private_key_file=key_file)
    client = SalesforceClient.connect(settings, retry=RetryPolicy(attempts=1))
    adapter = SalesforceAdapter(client, settings=settings, clock=FrozenClock(START))

    assert settings.is_configured
    assert adapter.find_by_idempotency_key("outbox-never") is None


def test_settings_for_the_jwt_flow_need_a_user_and_a_key(
    org: Org, keys: tuple[str, str]
) -> None:
    assert not _settings(org).is_configured
    assert not _settings(
        org, username=None, private_key=SecretStr(keys[0])
    ).is_configured
    # The client credentials flow is unaffected by the JWT settings.
    assert not _settings(org, auth_flow="client_credentials").is_configured
    assert _settings(
        org, auth_flow="client_credentials", client_secret=SecretStr("s")
    ).is_configured


def test_an_expired_assertion_is_refused(org: Org, keys: tuple[str, str]) -> None:
    an_hour_ago = time.time() - 3600
    login = _login(org, keys[0], wall_clock=lambda: an_hour_ago)

    with pytest.raises(BillingRejectedError, match="expired authorization code"):
        _sign_in(org, login)


def test_an_assertion_signed_with_another_key_is_refused(org: Org) -> None:
    other_private, _ = _pem_pair()

    with pytest.raises(BillingRejectedError, match="invalid assertion"):
        _sign_in(org, _login(org, other_private))


def test_another_audience_or_app_or_user_is_refused(
    org: Org, keys: tuple[str, str]
) -> None:
    cases = {
        "audience is invalid": {"audience": "https://test.salesforce.com"},
        "client identifier invalid": {"client_id": "someone-else"},
        "user hasn't approved this consumer": {"username": "nobody@example.com"},
    }
    for message, overrides in cases.items():
        with pytest.raises(BillingRejectedError, match=message):
            _sign_in(org, _login(org, keys[0], **overrides))


def test_the_refusal_has_salesforces_shape(org: Org) -> None:
    other_private, _ = _pem_pair()
    response = httpx.post(
        f"{org.instance_url}{OAUTH_PATH}",
        data={
            "grant_type": JWT_BEARER_GRANT,
            "assertion": _login(org, other_private).assertion(),
        },
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "invalid assertion",
    }


def test_an_unusable_key_is_a_refusal_not_a_retry(org: Org, tmp_path: Path) -> None:
    garbled = _login(org, "not a key")
    settings = _settings(org, private_key_file=tmp_path / "missing.pem")
    missing = _login(org, "", signing_key=settings.signing_key)

    for login in (garbled, missing):
        with pytest.raises(BillingRejectedError, match="signing key is unusable"):
            login.assertion()
