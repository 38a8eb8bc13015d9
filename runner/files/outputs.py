"""Per-item output paths: fill templates, keep them inside the working directory,
refuse two items writing one path, and tell which files a workflow could write.

The engine, for each step argument that is an output template (``StepSpec.outputs``):

1. ``fill(template, item)`` per item (SPEC 1.4 fields);
2. ``Resolver(workdir, allow_outside).resolve(path)`` -> the absolute path, or a
   FlowError if it leaves the working directory (also through a symlink);
3. ``OutputClaims.add(pairs, pos, where)`` with every ``(item, path)`` of the step,
   one shared ``OutputClaims`` for the whole workflow so two steps writing one
   path are caught too; then ``raise_if_any()`` before anything is written.

``could_write(templates, paths, workdir)(path)`` says whether a file
could be produced by the workflow's templates, so globs never take the
workflow's own outputs as inputs, on this run or a later one (SPEC 1.2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from runner.errors import FlowError, Pos, Problem
from runner.files import fields
from runner.files.inputs import Item

_MAX_PROBLEMS = 20  # collisions reported one by one; past this, a count


def _fail(message: str, pos: Pos | None, where: str, hint: str = "") -> FlowError:
    return FlowError([Problem(pos or Pos(""), where, message, hint)])


def fill(template: str, item: Item, *, pos: Pos | None = None, where: str = "") -> str:
    """``template`` with the item's fields put in (``"{stem}.jpg"`` -> ``"a.jpg"``).

    The fields and what may be done with them are :mod:`runner.files.fields`'s
    (``{index:04d}`` pads). Templates are validated earlier; a bad one still raises
    FlowError naming the template, never KeyError or a name nobody meant.
    """
    try:
        return fields.render(template, item.fields(), item.index)
    except fields.TemplateError as exc:
        raise _fail(exc.message, pos, where, exc.hint) from None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class Resolver:
    """Turns filled output paths into absolute ones, confined to the working directory.

    Keeps the real path of each folder it has seen, so ten thousand outputs in one
    folder cost one ``realpath``; make a new Resolver per run.
    """

    def __init__(self, workdir: str, allow_outside: bool = False) -> None:
        self._given = os.path.abspath(workdir)
        self.workdir = os.path.realpath(workdir)
        self.allow_outside = allow_outside
        self._real_dirs: dict[str, str] = {}
        self._links: dict[str, frozenset[str]] = {}  # folder -> names in it that are links

    def _is_link(self, folder: str, name: str) -> bool:
        """Is ``folder/name`` a symlink? One scandir per folder, not an lstat per file."""
        links = self._links.get(folder)
        if links is None:
            try:
                with os.scandir(folder) as entries:
                    links = frozenset(e.name for e in entries if e.is_symlink())
            except OSError:  # not there (yet), or not a folder: nothing in it is a link
                links = frozenset()
            self._links[folder] = links
        return name in links

    def _real(self, full: str) -> str:
        folder, name = os.path.split(full)
        if self._is_link(folder, name):  # the output itself is a link: where does it point?
            return os.path.realpath(full)
        real = self._real_dirs.get(folder)
        if real is None:
            # realpath resolves the deepest existing ancestor's links and keeps the rest.
            real = self._real_dirs[folder] = os.path.realpath(folder)
        return os.path.join(real, name)

    def resolve(self, path: str, *, pos: Pos | None = None, where: str = "") -> str:
        """The absolute, normalised path; FlowError if it leaves the working directory
        (``..``, an absolute path, or a symlink on the way) and outside is not allowed.
        ``path`` is relative to the workdir, or absolute (also the workdir joined with
        a template: messages then show the template's part, ``../x.jpg``)."""
        full = os.path.normpath(os.path.join(self._given, path))
        if _inside(full, self._given):  # spelled through a symlinked workdir: rebase
            full = self.workdir + full[len(self._given):] if self._given != "/" else full
        if self.allow_outside:
            return full
        hint = "outputs stay inside the working directory unless --allow-outside is given"
        if full == self.workdir:
            raise _fail(f"output path is the working directory itself: "
                        f"{_show(path, self._given)}", pos, where)
        if not _inside(full, self.workdir):
            raise _fail(f"output path escapes the working directory: {_show(path, self._given)} "
                        "(use --allow-outside)", pos, where, hint)
        real = self._real(full)
        if not _inside(real, self.workdir):
            raise _fail(f"output path escapes the working directory through a symlink: "
                        f"{_show(path, self._given)} -> {real} (use --allow-outside)", pos,
                        where, hint)
        return full


def describe(item: Item, workdir: str) -> str:
    """How an item is named in messages: its source below the workdir, or its value."""
    if item.source is None:
        return f"item {item.index} ({item.value!r})"
    return _show(item.source, workdir)


def _show(path: str, workdir: str) -> str:
    for base in (workdir, os.path.realpath(workdir)):
        if path.startswith(base.rstrip("/") + "/"):
            return path[len(base.rstrip("/")) + 1:]
    return path


@dataclass(frozen=True, slots=True)  # one per output path: kept small
class _Owner:
    step: int  # index into OutputClaims._steps
    item: Item | None  # None: a fixed path, written once by its step


class OutputClaims:
    """Which item of which step writes each output path, across a whole workflow.

    Memory is one entry per output path; the engine calls this only for steps with
    output templates and at most a million items (past that, collisions are not
    looked for; each path is still confined as it is made).
    """

    def __init__(self, workdir: str) -> None:
        self.workdir = os.path.abspath(workdir)
        # path -> (step, *the item's fields): a tuple of what exists anyway, not an Item
        # kept alive per path (a hundred thousand outputs are checked in one pass).
        self._owner: dict[str, tuple] = {}
        self._steps: list[tuple[str, Pos]] = []
        self.problems: list[Problem] = []
        self._more = 0

    def add_fixed(self, path: str, pos: Pos, where: str) -> None:
        """Claim a fixed output path (no per-item field) of the step at ``where``/``pos``.

        Claim the fixed paths first: an item that writes one later is then named."""
        self._steps.append((where, pos))
        self._owner.setdefault(path, _Owner(len(self._steps) - 1, None))

    def add(self, pairs: Iterable[tuple[Item, str]], pos: Pos, where: str) -> None:
        """Claim each ``(item, path)`` for the step at ``where``/``pos``; clashes are
        recorded (two different items of this step, or any item of an earlier step)."""
        step = len(self._steps)
        self._steps.append((where, pos))
        inner: dict[str, list] = {}  # path -> [first owner, second item, how many more]
        for item, path in pairs:
            owner = self._owner.get(path)
            if owner is None:
                self._owner[path] = _Owner(step, item)
            elif owner.step != step:
                whose = "" if owner.item is None else \
                    f" (for {describe(owner.item, self.workdir)})"
                self._report(pos, where, f"{describe(item, self.workdir)} would write "
                             f"{_show(path, self.workdir)}, which {self._steps[owner.step][0]} "
                             f"also writes{whose}")
            elif owner.item != item:
                clash = inner.get(path)
                if clash is None:
                    inner[path] = [owner.item, item, 0]
                else:
                    clash[2] += 1
        for path, (first, second, more) in inner.items():
            a, b = describe(first, self.workdir), describe(second, self.workdir)
            shown = _show(path, self.workdir)
            if more:
                self._report(pos, where, f"{a}, {b} and {more} more would all write {shown}")
            else:
                self._report(pos, where, f"{a} and {b} would both write {shown}")

    def _report(self, pos: Pos, where: str, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(Problem(pos, where, message,
                                         "put a per-item field such as {relpath} in the path"))
        else:
            self._more += 1

    def raise_if_any(self) -> None:
        """Raise one FlowError with every collision found so far."""
        if not self.problems:
            return
        problems = list(self.problems)
        if self._more:
            last = problems[-1]
            problems.append(Problem(last.pos, last.path,
                                    f"and {self._more} more paths written more than once"))
        raise FlowError(problems)


def refused_paths(pairs: Iterable[tuple[Item, str]], check: Callable[[str], str | None],
                  pos: Pos, where: str, workdir: str) -> list[Problem]:
    """The items whose output path ``check`` refuses (``check(path)`` says why, e.g. a suffix
    that contradicts the step's format): the first named, the others counted."""
    first: Problem | None = None
    more = 0
    for item, path in pairs:
        wrong = check(path)
        if wrong is None:
            continue
        if first is None:
            first = Problem(pos, where, f"{describe(item, workdir)} would write "
                            f"{_show(path, workdir)}: {wrong}")
        else:
            more += 1
    out = [first] if first is not None else []
    if more:
        out.append(Problem(pos, where, f"and {more} more items of this step alike"))
    return out


# ---------------------------------------------------------------- could_write

def template_regex(template: str, workdir: str) -> str:
    """A regex for every absolute path ``template`` can produce below ``workdir``.

    Each field matches what the table of fields says it can write (``{relpath}``
    may hold folders, ``{index}`` is digits, the others one path component's text);
    a field the table does not allow (validation refuses it) matches any component.
    """
    full = os.path.normpath(os.path.join(workdir, template))
    out: list[str] = []
    for literal, field, _, _ in fields.parse(full):
        out.append(re.escape(literal))
        if field is not None:
            known = fields.FIELDS.get(field)
            out.append(known.matches if known is not None else "[^/]*")
    return "".join(out)


@dataclass(frozen=True)
class OutputPatterns:
    """Every file a set of output templates could write, as regexes, plus exact paths.

    ``"build/thumbs/{stem}.jpg"`` covers ``build/thumbs/*.jpg``; ``"{relpath}.png"``
    covers any ``.png`` below the workdir. Callable: ``patterns(path)`` is what writes
    ``path`` (its owner's label, or its template), or None; pass it to
    ``runner.files.inputs.expand`` so a workflow never reads its own outputs.
    """

    workdir: str
    regexes: tuple[re.Pattern[str], ...]
    paths: frozenset[str] = frozenset()
    owners: tuple[str, ...] = ()  # who writes what each regex matches, in the same order
    path_owners: tuple[tuple[str, str], ...] = ()  # (exact path, who writes it)

    @classmethod
    def of(cls, templates: Iterable[str], workdir: str, paths: Iterable[str] = (),
           owners: Mapping[str, str] | None = None) -> OutputPatterns:
        """Patterns for ``templates`` (params already substituted) and exact ``paths``;
        a template that cannot be parsed is skipped (the validator reports it).
        ``owners`` maps a template or path, as given, to who writes it
        (``"step 'save' (line 12)"``), for messages."""
        owners = owners or {}
        bases = sorted({os.path.abspath(workdir), os.path.realpath(workdir)})
        rx: list[re.Pattern[str]] = []
        rx_owners: list[str] = []
        for t in templates:
            for base in bases:
                try:
                    rx.append(re.compile(template_regex(t, base)))
                except (ValueError, re.error):
                    continue
                rx_owners.append(owners.get(t, t))
        exact = tuple((os.path.normpath(os.path.join(base, p)), owners.get(p, p))
                      for p in paths for base in bases)
        return cls(os.path.abspath(workdir), tuple(rx), frozenset(p for p, _ in exact),
                   tuple(rx_owners), exact)

    def writer(self, path: str) -> str | None:
        """Who could write ``path`` (absolute, or relative to the workdir): the label of
        the template or fixed path that produces it, or None."""
        full = self._full(path)
        if full in self.paths:
            return next(o for p, o in self.path_owners if p == full)
        return next((o for r, o in zip(self.regexes, self.owners, strict=True)
                     if r.fullmatch(full)), None)

    def _full(self, path: str) -> str:
        if path[:1] == "/" and "/." not in path and "//" not in path:
            return path  # absolute and already normal (as a glob gives them): no normpath
        return os.path.normpath(os.path.join(self.workdir, path))

    def could_write(self, path: str) -> bool:
        """True if ``path`` (absolute, or relative to the workdir) is one the
        templates could produce, or one of the fixed output paths."""
        full = self._full(path)
        return full in self.paths or any(r.fullmatch(full) for r in self.regexes)

    __call__ = writer


def could_write(templates: Iterable[str], paths: Iterable[str] = (), workdir: str = ".",
                owners: Mapping[str, str] | None = None) -> OutputPatterns:
    """A predicate, ``could_write(...)(path)``: what of this workflow may write ``path``
    (truthy: its label), or None. ``templates`` are per-item output templates, ``paths``
    fixed output paths (either relative to ``workdir`` or absolute), ``owners`` their
    labels for messages."""
    return OutputPatterns.of(templates, workdir, paths, owners)
