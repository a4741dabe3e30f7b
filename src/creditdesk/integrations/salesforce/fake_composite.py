"""Composite requests in the fake org: sub-requests in order, all or none.

Inserts (POST) and, for taking a note back, updates (PATCH) of a note's
status and an allocation's ``blng__Unallocated__c``. As Salesforce does with
``allOrNone``: when one sub-request fails, nothing is
kept, the failing one answers its own error and every other one answers 400
``PROCESSING_HALTED``. The composite request itself still answers 200.
"""

import re
from datetime import date
from typing import Any

from creditdesk.integrations.salesforce import fake_unallocation as unallocation
from creditdesk.integrations.salesforce.fake_org import (
    ALLOCATION,
    INVOICE_LINE,
    LINE,
    NOTE,
    Org,
    SalesforceError,
    check_id,
    check_number,
    check_status,
    missing_reference,
)

_REFERENCE = re.compile(r"@\{(\w+)\.id\}")
_INSERT = re.compile(r"/services/data/(v[0-9]+\.[0-9])/sobjects/(\w+)")
_UPDATE = re.compile(r"/services/data/(v[0-9]+\.[0-9])/sobjects/(\w+)/(\w+)")
_ROLLED_BACK = (
    "The transaction was rolled back since another operation in the same "
    "transaction failed."
)
_FIELDS = {
    NOTE: {
        "blng__Account__c",
        "blng__CreditNoteDate__c",
        "blng__Status__c",
        "blng__Notes__c",
        "CurrencyIsoCode",
    },
    LINE: {"blng__CreditNote__c", "blng__Subtotal__c"},
    ALLOCATION: {
        "blng__CreditNoteLine__c",
        "blng__InvoiceLine__c",
        "blng__Amount__c",
        "blng__Type__c",
    },
}
Staged = dict[str, dict[str, dict[str, Any]]]


def run(org: Org, version: str, payload: Any) -> list[dict[str, Any]]:
    """Run a composite request's sub-requests; the caller holds ``org.lock``."""
    if not isinstance(payload, dict) or not isinstance(
        payload.get("compositeRequest"), list
    ):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "compositeRequest is required")
    all_or_none = payload.get("allOrNone") is True
    staged: Staged = {}
    ids: dict[str, str] = {}
    answers: list[dict[str, Any]] = []
    for sub in payload["compositeRequest"]:
        reference = str(sub.get("referenceId")) if isinstance(sub, dict) else ""
        if all_or_none and any(a["httpStatusCode"] >= 400 for a in answers):
            answers.append(_halted(reference))
            continue
        answers.append(_one(org, version, sub, reference, ids, staged))

    if all_or_none and any(a["httpStatusCode"] >= 400 for a in answers):
        return [
            a if a["httpStatusCode"] >= 400 else _halted(a["referenceId"])
            for a in answers
        ]
    for sobject, rows in staged.items():
        org.table(sobject).update(rows)
    return answers


def _one(
    org: Org,
    version: str,
    sub: Any,
    reference: str,
    ids: dict[str, str],
    staged: Staged,
) -> dict[str, Any]:
    try:
        if isinstance(sub, dict) and sub.get("method") == "PATCH":
            _update(org, version, sub, staged)
            return {
                "body": None,
                "httpHeaders": {},
                "httpStatusCode": 204,
                "referenceId": reference,
            }
        sobject, row = _insert(org, version, sub, ids, staged)
    except SalesforceError as exc:
        return {
            "body": exc.body,
            "httpHeaders": {},
            "httpStatusCode": exc.status,
            "referenceId": reference,
        }
    ids[reference] = row["Id"]
    staged.setdefault(sobject, {})[row["Id"]] = row
    location = f"/services/data/{version}/sobjects/{sobject}/{row['Id']}"
    return {
        "body": {"id": row["Id"], "success": True, "errors": []},
        "httpHeaders": {"Location": location},
        "httpStatusCode": 201,
        "referenceId": reference,
    }


def _halted(reference: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": _ROLLED_BACK}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": reference,
    }


def _insert(
    org: Org, version: str, sub: Any, ids: dict[str, str], staged: Staged
) -> tuple[str, dict[str, Any]]:
    match = _INSERT.fullmatch(str(sub.get("url"))) if isinstance(sub, dict) else None
    if match is None or sub.get("method") != "POST" or match[1] != version:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    sobject = match[2]
    allowed = _FIELDS.get(sobject)
    body = sub.get("body")
    if allowed is None:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "the body must be an object")
    if sobject == NOTE:
        allowed = allowed | {org.key_field}
    for name in body:
        if name not in allowed:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on sobject of type {sobject}",
            )
    row = {name: _resolve(value, ids) for name, value in body.items()}
    _CHECKS[sobject](org, row, staged)
    row["Id"] = org.new_id(sobject)
    row["Name"] = org.new_name(sobject)
    return sobject, row


def _update(org: Org, version: str, sub: dict[str, Any], staged: Staged) -> None:
    match = _UPDATE.fullmatch(str(sub.get("url")))
    if match is None or match[1] != version:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    sobject, record_id = match[2], match[3]
    current = unallocation.rows(org, staged, sobject).get(record_id)
    allowed = unallocation.UPDATABLE.get(sobject)
    if current is None or allowed is None:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    body = sub.get("body")
    if not isinstance(body, dict) or set(body) - allowed:
        raise SalesforceError(400, "INVALID_FIELD", f"Only {allowed} is fake here")
    if sobject == NOTE:
        status = body.get("blng__Status__c")
        check_status(status)
        unallocation.check_status_change(org, record_id, str(status), staged)
    staged.setdefault(sobject, {})[record_id] = {**current, **body}


def _resolve(value: Any, ids: dict[str, str]) -> Any:
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match[1] not in ids:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"Invalid reference specified. No value for {match[1]}.id found",
            )
        return ids[match[1]]

    return _REFERENCE.sub(replace, value)


def _exists(org: Org, staged: Staged, sobject: str, record_id: str) -> bool:
    return record_id in org.table(sobject) or record_id in staged.get(sobject, {})


def _check_note(org: Org, row: dict[str, Any], staged: Staged) -> None:
    account = check_id(
        row.get("blng__Account__c"), field_name="blng__Account__c", label="Account"
    )
    if not org.account_exists(account):
        raise missing_reference("blng__Account__c")
    check_status(row.get("blng__Status__c"))
    try:
        date.fromisoformat(str(row.get("blng__CreditNoteDate__c")))
    except ValueError:
        raise SalesforceError(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of date",
            ["blng__CreditNoteDate__c"],
        ) from None
    _check_unique_key(org, row, staged)


def _check_unique_key(org: Org, row: dict[str, Any], staged: Staged) -> None:
    key = row.get(org.key_field)
    if key is None:
        return
    notes = [*org.table(NOTE).values(), *staged.get(NOTE, {}).values()]
    for note in notes:
        if note.get(org.key_field) == key:
            raise SalesforceError(
                400,
                "DUPLICATE_VALUE",
                f"duplicate value found: {org.key_field} duplicates value on "
                f"record with id: {note['Id']}",
            )


def _check_line(org: Org, row: dict[str, Any], staged: Staged) -> None:
    note = check_id(
        row.get("blng__CreditNote__c"),
        field_name="blng__CreditNote__c",
        label="Credit Note",
    )
    if not _exists(org, staged, NOTE, note):
        raise missing_reference("blng__CreditNote__c")
    subtotal = check_number(
        row.get("blng__Subtotal__c"), field_name="blng__Subtotal__c"
    )
    limit = org.line_subtotal_limit
    if limit is not None and subtotal > limit:
        raise SalesforceError(
            400,
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            f"Credit note lines over {limit} need approval in Salesforce first.",
            ["blng__Subtotal__c"],
        )


def _check_allocation(org: Org, row: dict[str, Any], staged: Staged) -> None:
    line = check_id(
        row.get("blng__CreditNoteLine__c"),
        field_name="blng__CreditNoteLine__c",
        label="Credit Note Line",
    )
    if not _exists(org, staged, LINE, line):
        raise missing_reference("blng__CreditNoteLine__c")
    invoice_line = check_id(
        row.get("blng__InvoiceLine__c"),
        field_name="blng__InvoiceLine__c",
        label="Invoice Line",
    )
    if invoice_line not in org.table(INVOICE_LINE):
        raise missing_reference("blng__InvoiceLine__c")
    check_number(row.get("blng__Amount__c"), field_name="blng__Amount__c")
    unallocation.check_new_allocation(org, row, staged)


_CHECKS = {NOTE: _check_note, LINE: _check_line, ALLOCATION: _check_allocation}
