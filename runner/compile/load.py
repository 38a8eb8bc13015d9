"""YAML text -> a positioned tree: every node knows its file, line and column.

PyYAML's own loaders lose positions and expand aliases without limit, so we
build the tree (its node types are in :mod:`runner.compile.tree`) ourselves from the
parser's event stream (libyaml's C parser when it is there). Building from
events also lets us refuse, while reading and with a position, what a workflow
file must never hold:

- duplicate keys, anywhere;
- any tag beyond the plain JSON-like ones (``!!python/object`` ...): safe loading only;
- alias bombs: every alias adds the size of the node it names to a running
  count of expanded nodes, refused past :data:`MAX_EXPANDED` (instantly, since
  anchored nodes are shared, never copied);
- more than :data:`MAX_NODES` nodes written out (a list of a million values is
  data: a csv input streams it);
- nesting deeper than :data:`MAX_DEPTH` (no RecursionError anywhere later);
- more than one document.

Scalars are typed with YAML 1.1's rules, as PyYAML's safe loader does, except
timestamps, which stay strings (a workflow has no date type). Mapping keys are
always strings: a plain key like ``on`` or ``1`` is kept as written.
"""

from __future__ import annotations

import re
from typing import Any

# from_plain and to_plain are imported only because runner/compile/params.py still takes them
# from here; the tree's types are runner.compile.tree's.
from runner.compile.tree import (  # noqa: F401
    Map,
    Node,
    Scalar,
    Seq,
    from_plain,
    make_map,
    make_seq,
    to_plain,
)
from runner.compile.yamlhints import alias_hint, explain
from runner.errors import Collector, FlowError, Pos

MAX_NODES = 1_000_000  # nodes written in one document; a real workflow has a few hundred
MAX_EXPANDED = 100_000  # nodes that aliases add by repeating others
MAX_DEPTH = 100  # nesting levels

_T = "tag:yaml.org,2002:"
# Explicit tags a workflow may use; anything else (python/*, !custom, binary, set ...) is refused.
_SCALAR_TAGS = {_T + "str", _T + "int", _T + "float", _T + "bool", _T + "null"}
# Plain numbers read without PyYAML's constructors (a long values: list is mostly these):
# decimal integers (no leading zero, which YAML 1.1 reads as octal), and floats with an
# exponent, which YAML 1.1 reads only with a dot and a signed exponent.
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_EXPONENT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+")
_BREAKS = re.compile(r"\r\n|\r|\n|\x85|\u2028|\u2029")  # what libyaml counts as a line break


def split_lines(text: str) -> list[str]:
    """Lines as YAML counts them, so ``lines[pos.line - 1]`` is the line a Pos names."""
    return _BREAKS.split(text)


def read_text(path: str) -> str:
    """The file's text (UTF-8, an optional BOM dropped); FlowError if it cannot be read."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise FlowError.single(f"cannot read the workflow file: {e.strerror or e}",
                               file=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        good = raw[: e.start].decode("utf-8-sig", "replace")
        lines = split_lines(good)
        raise FlowError.single("the file is not UTF-8 text", file=path, line=len(lines),
                               col=len(lines[-1]) + 1) from None


def load_file(path: str, problems: Collector | None = None) -> Map:
    """The workflow file at ``path`` as a positioned tree; FlowError if it is not a mapping.

    With ``problems``, what does not stop reading (a duplicate key, a refused
    tag) goes there and the tree is returned; else any problem raises.
    """
    text = read_text(path)
    root = parse(text, path, problems)
    if not isinstance(root, Map):
        what = ("empty" if root is None or (isinstance(root, Scalar) and root.value is None)
                else "a list" if isinstance(root, Seq) else "a single value")
        pos = root.pos if root is not None else Pos(path, 1, 1)
        raise FlowError.single(
            f"the top level must be a mapping (flow: 1, name: ..., inputs: ..., steps: ...), "
            f"but the file is {what}", file=pos.file, line=pos.line, col=pos.col)
    return root


def parse(text: str, file: str, problems: Collector | None = None) -> Node | None:
    """Parse one YAML document into a positioned tree (None for an empty stream).

    Raises FlowError with every problem found up to the point parsing had to stop
    (a syntax error, an alias bomb, too deep, a second document). Problems that do
    not stop it go to ``problems`` if given (duplicates: the first key is kept;
    a refused tag: the text is kept), else they raise too.
    """
    builder = _Builder(text, file)
    root = builder.run()
    if problems is None:
        builder.problems.raise_if_any()
    else:
        problems.extend(builder.problems.problems)
    return root


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = ("is_map", "pos", "anchor", "keys", "values", "items", "key", "seen", "merges")

    def __init__(self, is_map: bool, pos: Pos, anchor: str | None) -> None:
        self.is_map = is_map
        self.pos = pos
        self.anchor = anchor
        self.keys: list[Scalar] = []
        self.values: list[Node] = []
        self.items: list[Node] = []
        self.key: Scalar | None = None  # a key waiting for its value
        self.seen: dict[str, Scalar] = {}
        self.merges: list[Node] = []  # values of "<<" merge keys, applied at the end


class _Builder:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.problems = Collector()
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.count = 0  # nodes written so far
        self.expanded = 0  # nodes added by aliases so far
        self.root: Node | None = None
        self.docs = 0
        self.skip = 0  # >0 while inside a node we refused (e.g. a complex key)

    def pos(self, mark: Any) -> Pos:
        return Pos(self.file, mark.line + 1, mark.column + 1)

    def fail(self, mark: Any, message: str, hint: str = "") -> FlowError:
        self.problems.add(self.pos(mark), "", message, hint)
        ordered = sorted(self.problems.problems, key=lambda p: (p.pos.line, p.pos.col))
        return FlowError(ordered)

    def run(self) -> Node | None:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            for ev in yaml.parse(self.text, Loader=loader):
                self.event(ev)
        except yaml.MarkedYAMLError as e:
            raise self.syntax_error(e) from None
        except yaml.reader.ReaderError as e:
            before = split_lines(self.text[: e.position])
            self.problems.add(Pos(self.file, len(before), len(before[-1]) + 1), "",
                              f"YAML syntax error: {e.reason} (character {e.character!r})")
            raise FlowError(self.problems.problems) from None
        except _Stop as stop:
            raise stop.error from None
        return self.root

    def syntax_error(self, e: Any) -> FlowError:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "not valid YAML"
        if mark is not None:
            # The usual mistakes (a tab, an unquoted ${param} or {field}, a glob read as an
            # alias, a key out of line) are plain on the line: say them, not the parser's words.
            ctx = e.context_mark.line + 1 if e.context_mark else None
            found = explain(split_lines(self.text), mark.line + 1, mark.column + 1, ctx)
            if found is not None:
                self.problems.add(Pos(self.file, found.line, found.col), "", found.message,
                                  found.hint)
                return FlowError(sorted(self.problems.problems,
                                        key=lambda p: (p.pos.line, p.pos.col)))
        hint = ""
        if e.context and e.context_mark and e.problem_mark:
            hint = f"{e.context} at line {e.context_mark.line + 1}"
        if "nesting depth" in problem:  # libyaml's own limit on flow nesting, same meaning
            return self.fail(mark, f"nested deeper than {MAX_DEPTH} levels; refused")
        return self.fail(mark, f"YAML syntax error: {problem}", hint)

    def count_up(self, n: int, mark: Any, alias: bool = False) -> None:
        if alias:
            self.expanded += n
            if self.expanded > MAX_EXPANDED:
                raise _Stop(self.fail(
                    mark, f"the document expands to more than {MAX_EXPANDED} nodes "
                    "(aliases that repeat aliases?); refused",
                    "a workflow needs a few hundred nodes; this looks like an alias bomb"))
            return
        self.count += n
        if self.count > MAX_NODES:
            raise _Stop(self.fail(
                mark, f"the document holds more than {MAX_NODES} values (keys, items and "
                "scalars); refused", "for data that large use a csv input (read as it "
                "streams) or a range"))

    def event(self, ev: Any) -> None:
        kind = type(ev).__name__
        if kind == "ScalarEvent":
            if self.skip:
                return
            self.count_up(1, ev.start_mark)
            self.done(self.scalar(ev), ev.anchor, ev.start_mark)
        elif kind in ("MappingStartEvent", "SequenceStartEvent"):
            if self.skip:
                self.skip += 1
                return
            self.count_up(1, ev.start_mark)
            is_map = kind == "MappingStartEvent"
            if ev.tag not in (None, "!", _T + ("map" if is_map else "seq")):
                self.problems.add(self.pos(ev.start_mark), "", self.bad_tag(ev.tag))
            if len(self.stack) >= MAX_DEPTH:
                raise _Stop(self.fail(ev.start_mark,
                                      f"nested deeper than {MAX_DEPTH} levels; refused"))
            top = self.stack[-1] if self.stack else None
            if top is not None and top.is_map and top.key is None:
                # A mapping or list used as a key: not a name; skip it and its value.
                self.problems.add(self.pos(ev.start_mark), "",
                                  "a key must be a name, not a mapping or a list")
                self.skip = 1
                top.key = Scalar("", self.pos(ev.start_mark))  # unseen: its value is dropped
                return
            if ev.anchor:
                self.open_anchors.add(ev.anchor)
            self.stack.append(_Frame(is_map, self.pos(ev.start_mark), ev.anchor))
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            if self.skip:
                self.skip -= 1
                return
            fr = self.stack.pop()
            node = self.finish_map(fr) if fr.is_map else make_seq(fr.items, fr.pos)
            if fr.anchor:
                self.open_anchors.discard(fr.anchor)
            self.done(node, fr.anchor, ev.end_mark)
        elif kind == "AliasEvent":
            if self.skip:
                return
            target = self.anchors.get(ev.anchor)
            if target is None:
                why = ("refers to a node that contains it" if ev.anchor in self.open_anchors
                       else "names no anchor above it")
                hint = "" if ev.anchor in self.open_anchors else alias_hint(
                    split_lines(self.text), ev.start_mark.line + 1, ev.start_mark.column + 1)
                raise _Stop(self.fail(ev.start_mark, f"alias *{ev.anchor} {why}", hint))
            self.count_up(target.size, ev.start_mark, alias=True)
            self.done(target, None, ev.start_mark)
        elif kind == "DocumentStartEvent":
            self.docs += 1
            if self.docs > 1:
                raise _Stop(self.fail(ev.start_mark,
                                      "a second YAML document; a workflow file holds one",
                                      "remove the '---' line or split the file"))

    def bad_tag(self, tag: str) -> str:
        shown = tag.replace(_T, "!!")
        return (f"tag {shown} is not allowed: a workflow is plain data "
                "(mappings, lists, strings, numbers, booleans)")

    def scalar(self, ev: Any) -> Scalar:
        pos = self.pos(ev.start_mark)
        plain = ev.style in (None, "")
        tag = ev.tag
        if tag is None or tag == "!":
            tag = _resolve(ev.value, ev.implicit) if tag is None else _T + "str"
        elif tag not in _SCALAR_TAGS:
            self.problems.add(pos, "", self.bad_tag(tag))
            tag = _T + "str"
        try:
            value = _construct(tag, ev.value)
        except Exception:  # e.g. !!int abc
            self.problems.add(pos, "", f"{ev.value!r} is not a valid {tag.replace(_T, '!!')}")
            value = ev.value
        return Scalar(value, pos, ev.value, plain and ev.tag is None)

    def done(self, node: Node, anchor: str | None, mark: Any) -> None:
        if anchor:
            self.anchors[anchor] = node
        if not self.stack:
            self.root = node
            return
        top = self.stack[-1]
        if not top.is_map:
            top.items.append(node)
            return
        if top.key is None:  # this node is a key
            if not isinstance(node, Scalar):  # an alias of a mapping or list, as a key
                self.problems.add(Pos(self.file, mark.line + 1, mark.column + 1), "",
                                  "a key must be a name, not a mapping or a list")
                top.key = Scalar("", node.pos)  # unseen: its value is dropped
                return
            name = node.value if isinstance(node.value, str) else node.text
            key = Scalar(name, node.pos, node.text, node.plain, size=node.size)
            if node.plain and node.text == "<<":
                top.key = key  # a merge key: may repeat, handled at the end
                return
            first = top.seen.get(name)
            if first is not None:
                self.problems.add(node.pos, "", f"duplicate key '{name}' "
                                  f"(first at line {first.pos.line})")
            else:
                top.seen[name] = key
            top.key = key
            return
        key, top.key = top.key, None
        if key.plain and key.text == "<<":
            top.merges.append(node)
        elif top.seen.get(key.value) is key:  # a first occurrence, not a duplicate
            top.keys.append(key)
            top.values.append(node)

    def finish_map(self, fr: _Frame) -> Map:
        keys, values = list(fr.keys), list(fr.values)
        have = {k.value for k in keys}
        for merged in fr.merges:  # explicit keys win, then earlier merges (YAML's rule)
            sources = merged.items if isinstance(merged, Seq) else (merged,)
            for src in sources:
                if not isinstance(src, Map):
                    self.problems.add(src.pos, "", "a '<<' merge takes a mapping or a list "
                                      "of mappings")
                    continue
                for k, v in src.items():
                    if k.value not in have:
                        have.add(k.value)
                        keys.append(k)
                        values.append(v)
        return make_map(keys, values, fr.pos)


class _Stop(Exception):
    """Parsing cannot go on; carries the FlowError to raise."""

    def __init__(self, error: FlowError) -> None:
        self.error = error


_resolver: Any = None
_constructor: Any = None


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    global _resolver
    import yaml

    if implicit[0] and _DECIMAL.fullmatch(value):
        return _T + "int"  # the common case, and the same under every YAML version
    if _resolver is None:
        _resolver = yaml.resolver.Resolver()
    tag = _resolver.resolve(yaml.ScalarNode, value, implicit)
    if tag == _T + "str" and implicit[0] and _EXPONENT.fullmatch(value):
        return _T + "float"  # 1e300: YAML 1.1 wants 1.0e+300, YAML 1.2 (and JSON) do not
    # Timestamps, '=' and '<<' as values stay text: a workflow has no use for them.
    return tag if tag in _SCALAR_TAGS else _T + "str"


def _construct(tag: str, text: str) -> Any:
    global _constructor
    if tag == _T + "str":
        return text
    if tag == _T + "int" and _DECIMAL.fullmatch(text):
        return int(text)
    if tag == _T + "float" and _EXPONENT.fullmatch(text):
        return float(text)
    import yaml

    if _constructor is None:
        _constructor = yaml.constructor.SafeConstructor()
    node = yaml.ScalarNode(tag, text)
    return _constructor.yaml_constructors[tag](_constructor, node)
