"""The fake S/4HANA's reads of one memo request and its items, and the one
item change creditdesk makes: rejecting it.

As in API_CREDIT_MEMO_REQUEST_SRV's metadata, ``A_CreditMemoRequestItem``
is addressed by its two keys and ``SalesDocumentRjcnReason`` (two
characters, the tenant's customising) is updatable, while the statuses are
not: the header's ``OverallSDDocumentRejectionSts`` is A (nothing rejected),
B (some items) or C (every item). Items carry an ETag (``__metadata.etag``
and the ``ETag`` header), and an update must send it back as ``If-Match``:
without it SAP's gateway answers 428, with a stale one 412. A billed item
(``OrderRelatedBillingStatus`` C) can no longer be rejected.
"""

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from creditdesk.integrations.sap.adapter import SERVICE_PATH
from creditdesk.integrations.sap.fake_schema import ODataError

ITEM_SET = f"{SERVICE_PATH}/A_CreditMemoRequestItem"
ITEM_TYPE = "API_CREDIT_MEMO_REQUEST_SRV.A_CreditMemoRequestItemType"
# Item properties a PATCH may set (a subset of the updatable ones).
UPDATABLE = {"SalesDocumentRjcnReason": 2, "ItemBillingBlockReason": 2}
_ITEM_KEY = re.compile(r"^CreditMemoRequest='(\d+)',CreditMemoRequestItem='(\d+)'$")


@dataclass
class ItemStore:
    """Per item: its change counter (the ETag) and whether it was billed."""

    rejection_reasons: set[str] = field(default_factory=lambda: {"10", "11"})
    _versions: dict[tuple[str, str], int] = field(default_factory=dict)
    _billed: set[str] = field(default_factory=set)
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.RLock = field(default_factory=threading.RLock)

    def etag(self, number: str, item: str) -> str:
        with self.lock:
            version = self._versions.setdefault((number, item), next(self._counter))
        return f"W/\"datetimeoffset'{version:020d}'\""

    def changed(self, number: str, item: str) -> None:
        with self.lock:
            self._versions[(number, item)] = next(self._counter)

    def bill(self, number: str) -> None:
        """As if SAP's billing run had billed the memo request."""
        with self.lock:
            self._billed.add(number)

    def billed(self, number: str) -> bool:
        with self.lock:
            return number in self._billed


def item_view(store: ItemStore, number: str, item: dict[str, Any], base: str):
    """One item as the service returns it, with its ETag."""
    position = item["CreditMemoRequestItem"]
    uri = (
        f"{base}/A_CreditMemoRequestItem(CreditMemoRequest='{number}',"
        f"CreditMemoRequestItem='{position}')"
    )
    view = {k: v for k, v in item.items() if k != "to_PricingElement"}
    view.update(
        __metadata={
            "id": uri,
            "uri": uri,
            "type": ITEM_TYPE,
            "etag": store.etag(number, position),
        },
        CreditMemoRequest=number,
        SalesDocumentRjcnReason=item.get("SalesDocumentRjcnReason", ""),
        OrderRelatedBillingStatus="C" if store.billed(number) else "A",
    )
    return view


def rejection_status(items: list[dict[str, Any]]) -> str:
    """OverallSDDocumentRejectionSts: A none, B some, C every item rejected."""
    rejected = [bool(item.get("SalesDocumentRjcnReason")) for item in items]
    if rejected and all(rejected):
        return "C"
    return "B" if any(rejected) else "A"


def routes(
    api: FastAPI,
    store: ItemStore,
    *,
    memo: Callable[[str], dict[str, Any] | None],
    authenticate: Callable[[Request], None],
    csrf_refused: Callable[[Request], Response | None],
    with_csrf: Callable[[Request, Response], Response],
    service_url: Callable[[Request], str],
) -> None:
    """Register the item read and update on ``api``."""

    def find(keys: str) -> tuple[str, dict[str, Any]]:
        match = _ITEM_KEY.match(keys)
        found = memo(match.group(1)) if match else None
        item = None
        if match and found is not None:
            position = match.group(2)
            item = next(
                (i for i in found["to_Item"] if i["CreditMemoRequestItem"] == position),
                None,
            )
        if match is None or item is None:
            raise ODataError(404, "/IWBEP/CM_MGW_RT/020", "Resource not found")
        return match.group(1), item

    @api.get(ITEM_SET + "({keys})")
    async def read_item(keys: str, request: Request) -> Response:
        authenticate(request)
        number, item = find(keys)
        view = item_view(store, number, item, service_url(request))
        etag = view["__metadata"]["etag"]
        return with_csrf(request, JSONResponse({"d": view}, headers={"etag": etag}))

    @api.patch(ITEM_SET + "({keys})")
    async def update_item(keys: str, request: Request) -> Response:
        authenticate(request)
        refused = csrf_refused(request)
        if refused is not None:
            return refused
        number, item = find(keys)
        body = _changes(await request.body())
        with store.lock:
            _check_precondition(store, number, item, request.headers.get("if-match"))
            _check_rejection(store, number, item, body)
            item.update(body)
            store.changed(number, item["CreditMemoRequestItem"])
        return Response(status_code=204)


def _changes(raw: bytes) -> dict[str, str]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ODataError(400, "/IWFND/CM_CONSUMER/004", "Malformed JSON") from None
    if not isinstance(body, dict) or not body:
        raise ODataError(400, "/IWFND/CM_CONSUMER/004", "Expected a JSON object")
    for name, value in body.items():
        if name not in UPDATABLE:
            raise ODataError(
                400,
                "/IWBEP/CM_MGW_RT/051",
                f"Property '{name}' of entity type A_CreditMemoRequestItemType "
                "cannot be updated",
            )
        if not isinstance(value, str) or len(value) > UPDATABLE[name]:
            raise ODataError(
                400,
                "/IWFND/CM_MGW/021",
                f"Value '{value}' of property '{name}' exceeds "
                f"{UPDATABLE[name]} characters",
            )
    return body


def _check_precondition(
    store: ItemStore, number: str, item: dict[str, Any], if_match: str | None
) -> None:
    if not if_match:
        raise ODataError(
            428, "/IWBEP/CM_MGW_RT/159", "Operation requires the If-Match header"
        )
    if if_match != store.etag(number, item["CreditMemoRequestItem"]):
        raise ODataError(
            412,
            "/IWBEP/CM_MGW_RT/022",
            "Precondition failed: the entity was changed by another user",
        )


def _check_rejection(
    store: ItemStore, number: str, item: dict[str, Any], body: dict[str, str]
) -> None:
    reason = body.get("SalesDocumentRjcnReason")
    if not reason:
        return
    if reason not in store.rejection_reasons:
        raise ODataError(400, "V1/041", f"Reason for rejection {reason} is not defined")
    if store.billed(number):
        raise ODataError(
            400,
            "V1/473",
            f"Item {item['CreditMemoRequestItem']} has already been billed and "
            "cannot be rejected",
        )
