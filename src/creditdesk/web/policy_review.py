"""Reviewing a policy edit on a page: where each error sits in the YAML, and
what the edit changes against the version in force.

The policy schema names the path at fault (``approval_matrix.bands.1.up_to``);
people editing a text box look for a line, so each issue gets the line of the
deepest node of its path that the document has.
"""

import difflib
import re
from dataclasses import dataclass

import yaml

from creditdesk.errors import DomainError

# The YAML parser's own messages already say "at line 12, column 3".
_YAML_LINE = re.compile(r"\bline (\d+)\b")

CONTEXT_LINES = 3

# TODO(policy-editor): the text box shows no line numbers and an error's line
# cannot be jumped to without scrolling (the message quotes the line's text
# to search for); a few lines in static/app.js selecting that line in the
# textarea would fix it for browsers with JavaScript.


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One error in the document: the YAML path, its line (if found) and
    that line's text (to find it by), why."""

    path: str
    line: int | None
    message: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a unified diff: ``kind`` is ``added``, ``removed``,
    ``same`` or ``hunk`` (a new stretch of the file); numbers are 1-based."""

    kind: str
    text: str
    old_no: int | None = None
    new_no: int | None = None


def issues_of(error: DomainError, text: str) -> list[PolicyIssue]:
    """The error's issues, each with the line of the document it points at."""
    root = _compose(text)
    lines = text.splitlines()
    issues = []
    for issue in error.issues or []:
        if issue.field == "document":
            found = _YAML_LINE.search(issue.message)
            line = int(found.group(1)) if found else None
        else:
            line = line_of(root, issue.field)
        source = lines[line - 1].strip() if line and line <= len(lines) else ""
        issues.append(PolicyIssue(issue.field, line, issue.message, source))
    if not issues:
        issues.append(PolicyIssue("document", None, error.detail))
    return issues


def line_of(root: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of the deepest node on ``path`` (dots between keys
    and list indexes), or None when even the first key is absent."""
    node, line = root, None
    for part in path.split("."):
        node = _child(node, part)
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _compose(text: str) -> yaml.Node | None:
    # Only the node tree, for positions: the schema has judged the values.
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _child(node: yaml.Node | None, part: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                # A key with nothing under it points at itself.
                return value if value.value not in ("", None) else key
        return None
    if isinstance(node, yaml.SequenceNode) and part.isdigit():
        index = int(part)
        return node.value[index] if index < len(node.value) else None
    return None


def diff(old: str, new: str) -> list[DiffLine]:
    """``new`` against ``old`` as a unified diff (difflib's grouping, three
    lines of context), line by line with both files' line numbers."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        first, last = group[0], group[-1]
        lines.append(DiffLine("hunk", _hunk(first[1], last[2], first[3], last[4])))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset, text in enumerate(a[i1:i2], start=1):
                    lines.append(DiffLine("same", text, i1 + offset, j1 + offset))
                continue
            for offset, text in enumerate(a[i1:i2]):
                lines.append(DiffLine("removed", text, old_no=i1 + offset + 1))
            for offset, text in enumerate(b[j1:j2]):
                lines.append(DiffLine("added", text, new_no=j1 + offset + 1))
    return lines


def _hunk(i1: int, i2: int, j1: int, j2: int) -> str:
    return (
        f"Lines {_span(i1, i2)} of the version in force, "
        f"lines {_span(j1, j2)} of the edit"
    )


def _span(start: int, end: int) -> str:
    if end <= start:
        return f"none (after line {start})"
    if end - start == 1:
        return str(start + 1)
    return f"{start + 1} to {end}"
