"""The YAML syntax mistakes users make most, said in their words instead of the parser's.

The parser says where it stopped ("did not find expected ',' or '}'"); the
cause is usually plain to see on the line it stopped at: a tab in the
indentation, a ``${param}`` or a ``{field}`` template that YAML took for a
mapping, a glob that YAML took for an alias, a key indented less or more than
its neighbours. :func:`explain` looks at that line (and the lines above it) and
returns a :class:`Hint`, or None to leave the parser's words. Only the source
text is read, so the hints are the same under libyaml and the pure-Python parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# A step's own keys: a key among them that does not line up belongs to a step.
STEP_KEYS = ("id", "uses", "with", "from", "parallel", "retries", "timeout", "on_error")
_KEY = re.compile(r"^( *)(- +)?([A-Za-z_][\w.-]*) *:(?: |$)")
# What may come right before a value: the line's start, a key's colon, a flow bracket or
# comma, a list item's dash.
_VALUE_START = re.compile(r"(?:^|[,\[{]|:\s|(?:^|\s)-\s)\s*$")


@dataclass(frozen=True)
class Hint:
    """A better account of a syntax error: where (1-based), what, and how to fix it."""

    line: int
    col: int
    message: str
    hint: str


def explain(lines: list[str], line: int, col: int = 0,
            context_line: int | None = None) -> Hint | None:
    """A :class:`Hint` for a syntax error the parser reported at ``line:col`` (1-based).

    ``context_line`` is the line the parser names in its "while parsing ..." note;
    the mistake may sit there rather than where the parser gave up.
    """
    seen: list[int] = []
    for n in (line, context_line):
        if n and 0 < n <= len(lines) and n not in seen:
            seen.append(n)
    for n in seen:
        found = (_tab(lines, n) or _flow_param(lines, n) or _star(lines, n)
                 or _brace(lines, n))
        if found:
            return found
    if not 0 < line <= len(lines):
        return None
    return _colon_in_value(lines, line, col) or _indent(lines, line)


def alias_hint(lines: list[str], line: int, col: int) -> str:
    """For ``*name`` that names no anchor: how to write the text it probably meant."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    if text[col - 1: col] != "*":
        return ""
    value = _plain_end(text, col - 1)
    return ("YAML reads a value that starts with * as an alias; for the text, "
            f"quote it: {_quoted(text, col - 1, value)}")


def _tab(lines: list[str], n: int) -> Hint | None:
    text = lines[n - 1]
    lead = text[: len(text) - len(text.lstrip(" \t"))]
    if "\t" not in lead:
        return None
    return Hint(n, lead.index("\t") + 1, "a tab in the indentation",
                "YAML indents with spaces, not tabs")


def _flow_param(lines: list[str], n: int) -> Hint | None:
    """``{width: ${size}}``: inside a flow collection, ``{`` starts a mapping."""
    for i, depth, value in _values(lines[n - 1], "${"):
        if depth:
            braces = "{ }" if depth[-1] == "{" else "[ ]"
            return Hint(n, i + 1, f"{value} inside {braces} must be quoted: YAML reads its "
                        "braces as a mapping", f'quote it: "{value}"')
    return None


def _star(lines: list[str], n: int) -> Hint | None:
    """``glob: *.jpg``: a value that starts with ``*`` is an alias to YAML."""
    for i, _, value in _values(lines[n - 1], "*"):
        if not re.fullmatch(r"\*[\w-]+", value):  # a well-formed alias did not stop the parser
            return _misread(lines[n - 1], n, i, value, "an alias")
    return None


def _brace(lines: list[str], n: int) -> Hint | None:
    """``to: {stem}.jpg``: a value that starts with ``{`` is a mapping to YAML."""
    text = lines[n - 1]
    for i, _, value in _values(text, "{"):
        close = _matching(text, i)
        # Text right after the closing brace: not a mapping (nor one cut across lines).
        if close is not None and text[close + 1: close + 2] not in ("", " ", ",", "}", "]", "#"):
            return _misread(text, n, i, value, "a mapping")
    return None


def _misread(text: str, n: int, i: int, value: str, what: str) -> Hint:
    return Hint(n, i + 1, f"'{value}' must be quoted: YAML reads a value that starts with "
                f"{value[0]} as {what}", f"quote it: {_quoted(text, i, value)}")


def _values(text: str, start: str) -> Iterator[tuple[int, str, str]]:
    """Each unquoted value on the line that starts with ``start``: where, in what, its text."""
    for i, depth in _unquoted(text):
        if text.startswith(start, i) and _starts_value(text, i):
            yield i, depth, _flow_end(text, i) if depth else _plain_end(text, i)


def _colon_in_value(lines: list[str], n: int, col: int) -> Hint | None:
    """``description: Thumbnails: small ones``: the second ``: `` makes another key."""
    text = lines[n - 1]
    m = _KEY.match(text)
    if not m or col - 1 < m.end() or text[col - 1: col] != ":" or text[m.end():m.end() + 1] in \
            ("'", '"', "{", "["):
        return None
    value = _plain_end(text, m.end())
    return Hint(n, col, "': ' inside an unquoted value: YAML reads it as the start of another "
                "key", f"quote it: {_quoted(text, m.end(), value)}")


def _indent(lines: list[str], n: int) -> Hint | None:
    """A key that does not line up with the keys of the mapping it belongs to."""
    m = _KEY.match(lines[n - 1])
    if not m or m.group(2):
        return None
    col, key = len(m.group(1)), m.group(3)
    above = _key_above(lines, n)
    if above is None:
        return None
    a_line, a_col, a_key, a_has_value = above
    where = f"'{a_key}:' on line {a_line} (column {a_col + 1})"
    if col < a_col:
        whose = ("the step it belongs to" if key in STEP_KEYS and a_key in STEP_KEYS
                 else "the keys above it")
        return Hint(n, col + 1, f"'{key}:' is indented less than {whose}",
                    f"line it up with {where}")
    if col > a_col and a_has_value:
        return Hint(n, col + 1, f"'{key}:' is indented more than the key above it",
                    f"line it up with {where}: a key cannot go under a value")
    return None


def _key_above(lines: list[str], n: int) -> tuple[int, int, str, bool] | None:
    """The nearest key line above ``n``: its number, key column, key, whether it has a value."""
    for k in range(n - 1, 0, -1):
        text = lines[k - 1]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        m = _KEY.match(text)
        if not m:
            return None
        col = len(m.group(1)) + len(m.group(2) or "")
        rest = text[m.end():].split(" #")[0].strip()
        return k, col, m.group(3), bool(rest)
    return None


def _unquoted(text: str) -> Iterator[tuple[int, str]]:
    """Each position outside quotes and comments, with the open flow brackets there."""
    depth = ""
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
            continue
        if c in "'\"" and _starts_value(text, i):
            quote = c
            continue
        if c == "#" and (i == 0 or text[i - 1] in " \t"):
            return
        yield i, depth
        if c in "{[":
            depth += c
        elif c in "}]" and depth:
            depth = depth[:-1]


def _starts_value(text: str, i: int) -> bool:
    """Whether a scalar starting at ``i`` would start a value (or a key, or a list item)."""
    return bool(_VALUE_START.search(text[:i]))


def _matching(text: str, i: int) -> int | None:
    """The index of the bracket closing the one at ``i``, on this line; None if not here."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] in "{[":
            depth += 1
        elif text[j] in "}]":
            depth -= 1
            if depth == 0:
                return j
    return None


def _flow_end(text: str, i: int) -> str:
    """The scalar starting at ``i`` inside a flow collection, up to its ``,`` or bracket."""
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c in "{[":
            depth += 1
        elif c in "}]":
            if depth == 0:
                return text[i:j].rstrip()
            depth -= 1
        elif c == "," and depth == 0:
            return text[i:j].rstrip()
    return text[i:].rstrip()


def _plain_end(text: str, i: int) -> str:
    """The block scalar starting at ``i``: up to a comment or the line's end."""
    return re.split(r"\s+#", text[i:], maxsplit=1)[0].rstrip()


def _quoted(text: str, i: int, value: str) -> str:
    """``key: "value"`` when the value at ``i`` follows a block key, else ``"value"``."""
    shown = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    m = re.search(r"([A-Za-z_][\w.-]*) *: *$", text[:i])
    inside = any(d for j, d in _unquoted(text) if j == i)
    return f"{m.group(1)}: {shown}" if m and not inside else shown


def braced_text(node: object) -> str:
    """``{stem}`` if ``node`` is a mapping YAML made of a braced word (``to: {stem}``), else ""."""
    from runner.compile.tree import Map, Scalar

    if not isinstance(node, Map) or not node.keys:
        return ""
    if not all(isinstance(v, Scalar) and v.value is None and not v.text for v in node.values):
        return ""
    return "{" + ", ".join(k.value for k in node.keys) + "}"
