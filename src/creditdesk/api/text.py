"""Free text from clients: any printable text, tabs and line breaks allowed.

Other control characters are refused at the edge: PostgreSQL cannot store NUL,
and the audit chain's encoding reserves the unit separator.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, StrictStr

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("say why, in a few words")
    return value


FreeText = Annotated[StrictStr, AfterValidator(_no_control_characters)]
# Why someone changes a record, for the audit trail: free text, not blank.
Because = Annotated[FreeText, AfterValidator(_not_blank)]
