"""The per-item fields of output templates (SPEC 1.4): the one table that checking and
filling share.

A template is ``str.format`` text such as ``out/{relpath}.jpg``. Only the fields in
:data:`FIELDS` are allowed, each used as it is; ``{index}`` alone takes a format spec,
a zero-padded width (``{index:04d}``). Attribute or index access (``{stem.upper}``,
``{stem[0]}``), conversions (``{stem!r}``) and any other spec are refused: they would
write file names nobody meant (``<built-in method upper ...>.jpg``).

:func:`problem` judges one field (the validator reports it at the template's place);
:func:`render` fills a template and refuses what :func:`problem` refuses, so a
template that was never validated still cannot reach past the fields.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from runner.errors import did_you_mean


@dataclass(frozen=True)
class Field:
    """One per-item field: its name, what it holds, and a regex of what it writes."""

    name: str
    means: str
    matches: str  # what the field can put in a path (to tell which files a workflow writes)


_TABLE = (
    Field("stem", "the source file's name without its suffix", "[^/]+"),
    Field("name", "the source file's name", "[^/]+"),
    Field("ext", "the source file's suffix, with its dot", "[^/]*"),
    Field("parent", "the source file's folder name", "[^/]*"),
    Field("relpath", "the source's path below its glob's fixed prefix, without suffix", ".+"),
    Field("index", "the item's position in its input", "[0-9]+"),
)
FIELDS: Mapping[str, Field] = {f.name: f for f in _TABLE}
NAMES = tuple(FIELDS)
HINT = ("fields: " + ", ".join(f"{{{n}}}" for n in NAMES)
        + "; {index:04d} zero-pads; write a literal brace as {{ or }}")
_INDEX_SPEC = re.compile(r"0[1-9][0-9]?d")  # a zero-padded width, 1 to 99 digits


class TemplateError(ValueError):
    """A template that cannot be filled: ``message`` and a ``hint`` for the user."""

    def __init__(self, message: str, hint: str = HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


Parsed = list[tuple[str, str | None, str, str | None]]


def parse(template: str) -> Parsed:
    """``(literal, field, spec, conversion)`` parts of ``template``; TemplateError when a
    brace is left open or alone."""
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"bad output template '{template}': {exc}",
                            "write a literal brace as {{ or }}") from None


def problem(field: str, spec: str, conversion: str | None,
            template: str | None = None) -> tuple[str, str] | None:
    """What is wrong with one ``{field!conversion:spec}`` of a template, as
    ``(message, hint)``, or None when it is a documented field used as allowed.
    ``template`` (when filling) is named in the message."""
    shown = "{" + field + (f"!{conversion}" if conversion is not None else "") \
        + (f":{spec}" if spec else "") + "}"
    base = re.match(r"[^.\[]*", field).group(0)  # type: ignore[union-attr]
    where = f" in {template!r}" if template is not None else ""
    if base not in FIELDS:
        kind = "field" if template is not None else "per-item field"
        return f"unknown {kind} {{{field}}}{where}{did_you_mean(base, NAMES)}", HINT
    if field != base:
        access = "attribute" if field[len(base)] == "." else "index"
        return f"{shown}: {access} access is not allowed{where}", HINT
    if conversion is not None:
        return f"{shown}: a conversion ('!{conversion}') is not allowed{where}", HINT
    if spec and base != "index":
        return f"{shown}: no format spec is allowed on {{{base}}}{where}", HINT
    if spec and not _INDEX_SPEC.fullmatch(spec):
        return (f"{shown}: format spec '{spec}' is not allowed{where}; {{index}} takes a "
                "zero-padded width only, such as {index:04d}", HINT)
    return None


def render(template: str, values: Mapping[str, str], index: int) -> str:
    """``template`` filled with an item's field ``values`` (its ``index`` as a number,
    so ``{index:04d}`` pads it); TemplateError for anything :func:`problem` refuses."""
    out: list[str] = []
    for literal, field, spec in _checked(template):
        out.append(literal)
        if field is not None:
            out.append(format(index, spec) if field == "index" else values[field])
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _checked(template: str) -> tuple[tuple[str, str | None, str], ...]:
    """``template`` parsed and judged once (a run fills it for every item)."""
    parts = []
    for literal, field, spec, conversion in parse(template):
        if field is not None:
            wrong = problem(field, spec, conversion, template)
            if wrong is not None:
                raise TemplateError(*wrong)
        parts.append((literal, field, spec))
    return tuple(parts)
