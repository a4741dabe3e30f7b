"""The query options the fake S/4HANA understands on A_CreditMemoRequest.

Two ``$filter`` forms, as the adapter and the memo listing send them:
``PurchaseOrderByCustomer eq '...'`` and a creation-date range
``CreationDate ge datetime'...' and CreationDate le datetime'...'``; then
``$orderby`` (``CreationDate`` and ``CreditMemoRequest``, ascending),
``$top``, ``$skip`` and the ``$skiptoken`` of a ``__next`` link.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime

from starlette.datastructures import QueryParams

from creditdesk.integrations.sap.fake_schema import ODataError

_BY_REFERENCE = re.compile(r"\s*PurchaseOrderByCustomer\s+eq\s+'((?:[^']|'')*)'\s*")
_DATETIME = r"datetime'(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?)'"
_BY_DATE = re.compile(
    rf"\s*CreationDate\s+ge\s+{_DATETIME}\s+and\s+CreationDate\s+le\s+{_DATETIME}\s*"
)
_ORDER_FIELDS = {"CreationDate", "CreditMemoRequest"}


@dataclass(frozen=True)
class Query:
    reference: str | None
    created_from: date | None
    created_to: date | None
    order_by: tuple[str, ...]
    top: int
    skip: int


def parse(params: QueryParams, default_top: int) -> Query:
    if params.get("$format", "json") != "json":
        raise ODataError(400, "/IWFND/CM_MGW/096", "This fake answers JSON only")
    text = params.get("$filter", "")
    reference = created_from = created_to = None
    if match := _BY_REFERENCE.fullmatch(text):
        reference = match[1].replace("''", "'")
    elif match := _BY_DATE.fullmatch(text):
        created_from, created_to = _day(match[1]), _day(match[2])
    else:
        raise ODataError(
            400,
            "/IWFND/CM_MGW/097",
            "Only $filter=PurchaseOrderByCustomer eq '...' or a CreationDate "
            "range is supported",
        )
    return Query(
        reference=reference,
        created_from=created_from,
        created_to=created_to,
        order_by=_order_by(params.get("$orderby", "")),
        top=_count(params, "$top", default_top),
        skip=_count(params, "$skiptoken", _count(params, "$skip", 0)),
    )


def _day(text: str) -> date:
    return datetime.fromisoformat(text).date()


def _order_by(text: str) -> tuple[str, ...]:
    fields = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, direction = part.partition(" ")
        if name not in _ORDER_FIELDS or direction.strip() not in ("", "asc"):
            raise ODataError(
                400, "/IWFND/CM_MGW/099", f"Unsupported $orderby value '{part}'"
            )
        fields.append(name)
    return tuple(fields)


def _count(params: QueryParams, name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise ODataError(400, "/IWFND/CM_MGW/098", f"Invalid {name} value '{value}'")
    return int(value)
