"""JSON request bodies for vendor APIs, with decimal amounts as JSON numbers.

Some vendors document an amount as a JSON number (``12.50``). The standard
encoder only writes numbers from ints and floats, and a float cannot hold
every decimal amount, so amounts travel as ``decimal.Decimal`` and are written
digit for digit. A float anywhere in a body is refused rather than rounded.
"""

import json
from decimal import Decimal
from typing import Any


def json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, writing each Decimal as a number."""
    return _encode(value).encode()


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats have no place in a money API body; use Decimal")
    if isinstance(value, dict):
        members = (f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)
