"""A report as CSV (one file, a ``table`` column first) or XLSX (a sheet per
table). Amounts are written as their decimal text in CSV; in XLSX they are
numbers, as a spreadsheet needs, written from that exact text."""

import csv
import io
import json
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from creditdesk.reports.scope import Report

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Columns whose values are decimal strings a spreadsheet should add up.
_DECIMAL_COLUMNS = frozenset(
    {
        "total",
        "average",
        "share_percent",
        "value",
        "baseline",
        "difference",
        "found",
        "per_year",
        "baseline_per_year",
        "billed",
    }
)
# Excel's sheet names are at most 31 characters.
_SHEET_NAME_MAX = 31


def to_csv(report: Report) -> str:
    """Every table of the report, stacked, each row naming its table."""
    columns: dict[str, None] = {"table": None}
    for table in report.tables:
        columns.update(dict.fromkeys(report.columns(table)))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for table, rows in report.tables.items():
        for row in rows:
            writer.writerow({"table": table} | _inert(row))
    return out.getvalue()


# A spreadsheet opening a CSV runs a cell that starts with one of these as a
# formula; a team or product named "=HYPERLINK(...)" must stay text.
_FORMULA_STARTS = ("=", "+", "-", "@")


def _inert(row: dict[str, Any]) -> dict[str, Any]:
    return {
        column: f"'{value}"
        if isinstance(value, str)
        and value.startswith(_FORMULA_STARTS)
        and column not in _DECIMAL_COLUMNS
        else value
        for column, value in row.items()
    }


def to_json(report: Report) -> str:
    """The report as the API answers it."""
    return json.dumps(report.as_json(), indent=2) + "\n"


def to_xlsx(report: Report) -> bytes:
    """A workbook with one sheet per table, its header row first."""
    book = Workbook()
    book.remove(book.active)
    for table, rows in report.tables.items():
        sheet = book.create_sheet(table[:_SHEET_NAME_MAX])
        columns = report.columns(table)
        sheet.append(columns)
        for row in rows:
            sheet.append([_cell(column, row.get(column)) for column in columns])
            _as_text(sheet[sheet.max_row])
        for index, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = max(
                12, len(column) + 2
            )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _as_text(cells: Any) -> None:
    # openpyxl takes any text starting with "=" for a formula; a product or
    # team named "=HYPERLINK(...)" must stay the text it is.
    for cell in cells:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def _cell(column: str, value: Any) -> Any:
    if column in _DECIMAL_COLUMNS and isinstance(value, str):
        return Decimal(value)
    return value
