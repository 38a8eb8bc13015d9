"""Names as the user can read them: one line, and text that any stream can encode.

A file name may hold a newline or an escape sequence, and one that is not UTF-8
reaches Python as lone surrogates (``b"bad\\xff.jpg"`` is ``"bad\\udcff.jpg"``), which
a UTF-8 stream refuses. The summary, plain lines and the live table show such a
name escaped, repr-style; the JSON documents (``--json`` and ``--report``) keep
every name they can represent and spell the bytes that were not UTF-8 as ``\\xff``.
"""

from __future__ import annotations

from typing import Any

_SURROGATES = range(0xD800, 0xE000)


def printable(text: str) -> str:
    """``text`` on one line: characters that do not print escaped as in a repr
    (``\\n``, ``\\x1b``), bytes that were not UTF-8 as ``\\xff``; a name that needs
    none of that is shown as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)


def encodable(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with its strings' lone surrogates
    spelled ``\\xff`` (and then their backslashes doubled), so that it encodes as UTF-8."""
    if isinstance(value, str):
        if value.isprintable() or not any(ord(c) in _SURROGATES for c in value):
            return value
        return "".join(_escape(c) if ord(c) in _SURROGATES or c == "\\" else c
                       for c in value)
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    return value


def _escape(c: str) -> str:
    if c == "\\":
        return "\\\\"
    if 0xDC80 <= ord(c) <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{ord(c) - 0xDC00:02x}"
    return repr(c)[1:-1]
