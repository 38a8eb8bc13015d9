"""The step contract: ``@step`` declares a function's kind and argument schema.

The decorator returns the function unchanged (it only attaches a
:class:`StepDef`), so a step is a plain function a test can call with a value.
Nothing is registered as an import side effect: :func:`collect` reads the
``@step`` functions of named modules, and :data:`BUILTIN_MODULES` /
:func:`entry_point_modules` say which modules those are.

A step module may also declare a :class:`ValueKind`: values that cannot leave a
worker as themselves (an image's pixels) and how one is spilled to a file.
:func:`value_kinds` finds them the same way, so the engine spills what the
steps made without knowing what it is.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

Kind = Literal["map", "reduce"]
# What a step takes and gives, so the planner can insert image.open and
# check that an image step is not fed numbers.
ValueType = Literal["any", "image", "number", "path"]

BUILTIN_MODULES = ("steps.image", "steps.image_sheet", "steps.image_color",
                   "steps.image_compose", "steps.image_text", "steps.image_filter",
                   "steps.numeric", "steps.numeric_reduce", "steps.io", "steps.util")
ENTRY_POINT_GROUP = "flow.steps"
# What a worker's first image step imports (Pillow and its commonest formats), worth
# importing once where workers are forked from rather than in each, at its first item.
WORKER_WARM = ("PIL.Image", "PIL.JpegImagePlugin", "PIL.PngImagePlugin")


@dataclass(frozen=True)
class Fold:
    """How an associative reduce is computed in pieces inside the workers.

    ``partial(values, **args)`` folds one chunk's values (an iterable, read once)
    into a small partial result; ``combine(partials, **args)`` merges a list of
    partials into one partial; ``finish(partial, **args)`` gives the step's output.
    ``finish(combine([partial(all_values)]))`` must equal the step function's result.
    """

    partial: Callable[..., Any]
    combine: Callable[..., Any]
    finish: Callable[..., Any]


@dataclass(frozen=True)
class StepDef:
    """What the engine knows of one step."""

    name: str
    fn: Callable[..., Any]
    kind: Kind = "map"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    description: str = ""
    takes: ValueType = "any"
    gives: ValueType = "any"
    # Arguments that are output-path templates ("{stem}"): the engine fills them
    # per item, checks collisions and confinement, and passes the final path.
    outputs: tuple[str, ...] = ()
    # Arguments that name a file the step reads (a watermark): validation checks that
    # it exists, relative to the working directory, and the engine passes its full path.
    reads: tuple[str, ...] = ()
    fold: Fold | None = None
    # Optional fast path for a chunk of values: batch(values, **args) -> list.
    # Must equal [fn(v, **args) for v in values] (None entries mean dropped).
    batch: Callable[..., Any] | None = None
    # For image steps that only need fewer pixels: shrink(args) -> (w, h) the
    # smallest size the step reads, so a JPEG can be decoded at reduced scale.
    shrink: Callable[..., tuple[int, int] | None] | None = None
    # False when the step never returns None, so the fast path needs no filter after it.
    drops: bool = True
    # check_output(path, args) -> what is wrong with writing ``path`` with these arguments
    # (a suffix that contradicts 'format'), or None; the engine asks before anything runs.
    check_output: Callable[[str, Mapping[str, Any]], str | None] | None = None
    # A py: step read from its source, not imported: the ref a worker imports it by.
    origin: str = ""

    @property
    def ref(self) -> str:
        """``module:qualname``, or ``folder:module:qualname`` for a module found by file
        in a workflow's folder: how a worker process finds the function again."""
        return self.origin or f"{self.fn.__module__}:{self.fn.__qualname__}"


def closed_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A step's argument schema as flow checks it: an object, closed unless it says not."""
    sch = dict(schema) if schema else {"type": "object", "properties": {}}
    sch.setdefault("type", "object")
    sch.setdefault("additionalProperties", False)
    return sch


def step(name: str, kind: Kind = "map", schema: dict[str, Any] | None = None, *,
         description: str | None = None, takes: ValueType = "any", gives: ValueType = "any",
         outputs: Iterable[str] = (), reads: Iterable[str] = (), fold: Fold | None = None,
         batch: Callable[..., Any] | None = None,
         shrink: Callable[..., tuple[int, int] | None] | None = None,
         drops: bool = True,
         check_output: Callable[[str, Mapping[str, Any]], str | None] | None = None) -> Callable:
    """Declare ``fn`` a flow step. Returns the function unchanged.

    The schema describes the ``with`` mapping; when it is an object schema without
    ``additionalProperties`` it is closed (unknown arguments are errors).
    """
    if kind not in ("map", "reduce"):
        raise ValueError(f"step {name!r}: kind must be 'map' or 'reduce', not {kind!r}")
    if fold is not None and kind != "reduce":
        raise ValueError(f"step {name!r}: only a reduce step can fold")
    sch = closed_schema(schema)

    def attach(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or "").strip().splitlines()
        fn.__flow_step__ = StepDef(  # type: ignore[attr-defined]
            name=name, fn=fn, kind=kind, schema=sch,
            description=description or (doc[0] if doc else ""),
            takes=takes, gives=gives, outputs=tuple(outputs), reads=tuple(reads), fold=fold,
            batch=batch, shrink=shrink, drops=drops, check_output=check_output)
        return fn

    return attach


def step_def(fn: Callable[..., Any]) -> StepDef | None:
    """The StepDef a function was declared with, or None for a plain function."""
    return getattr(fn, "__flow_step__", None)


def collect(module: ModuleType) -> dict[str, StepDef]:
    """Every ``@step`` function defined in ``module``, by step name."""
    found: dict[str, StepDef] = {}
    for value in vars(module).values():
        sd = step_def(value) if callable(value) else None
        if sd is not None and value.__module__ == module.__name__:
            found[sd.name] = sd
    return found


@dataclass(frozen=True)
class ValueKind:
    """Values that must not cross a stage boundary as themselves, and how they are spilled.

    Declared as a module-level constant of a step module. When a worker's chain ends
    on a value that ``holds(value)``, the worker calls ``spill(value, folder)``, which
    writes it to a new file in ``folder`` and returns its path; the parent and the next
    stage get that path, and the steps that take such values reopen it.
    """

    name: str
    holds: Callable[[Any], bool]
    spill: Callable[[Any, str], str]


@functools.cache
def value_kinds(refs: tuple[str, ...] = ()) -> tuple[ValueKind, ...]:
    """The ValueKinds of the built-in step modules, then of the modules of the steps
    ``refs`` name (see :func:`resolve_ref`); a name counts once."""
    found: dict[str, ValueKind] = {}
    modules = [importlib.import_module(m) for m in BUILTIN_MODULES]
    modules += [_module_of(ref) for ref in refs]
    for module in dict.fromkeys(modules):
        for value in vars(module).values():
            if isinstance(value, ValueKind):
                found.setdefault(value.name, value)
    return tuple(found.values())


def entry_point_modules() -> list[str]:
    """Module names that installed packages add through the ``flow.steps`` group."""
    from importlib.metadata import entry_points

    return [ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)]


class Registry(Mapping[str, StepDef]):
    """Steps by name: built-ins and ``extra_modules`` at once, plugins when first needed.

    Scanning installed packages' entry points costs ~20 ms, so it waits until a
    name is not a built-in or the whole list is asked for. A plugin cannot
    replace a built-in step: the built-in name wins.
    """

    def __init__(self, extra_modules: Iterable[str] = ()) -> None:
        self._steps: dict[str, StepDef] = {}
        for mod_name in (*BUILTIN_MODULES, *extra_modules):
            self._steps.update(collect(importlib.import_module(mod_name)))
        self._plugins_loaded = False

    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            for mod_name in entry_point_modules():
                for name, sd in collect(importlib.import_module(mod_name)).items():
                    self._steps.setdefault(name, sd)

    def __getitem__(self, name: str) -> StepDef:
        if name not in self._steps:
            self._load_plugins()
        return self._steps[name]

    def __iter__(self) -> Iterator[str]:
        self._load_plugins()
        return iter(self._steps)

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._steps)


def load_registry(extra_modules: Iterable[str] = ()) -> Registry:
    """Built-in steps, entry-point steps (``flow.steps``), then ``extra_modules``; by name."""
    return Registry(extra_modules)


def step_package_roots() -> set[str]:
    """Top-level import names of the installed distributions that declare ``flow.steps``."""
    from importlib.metadata import entry_points

    roots: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        roots.add(ep.value.split(":")[0].split(".")[0].strip())
        try:
            top = ep.dist.read_text("top_level.txt") if ep.dist is not None else None
        except OSError:
            top = None
        roots.update((top or "").split())
    return roots


def file_ref(folder: str, module: str, qual: str) -> str:
    """The ref of ``module:qual`` found by file under ``folder`` (see :func:`resolve_ref`)."""
    return f"{folder}:{module}:{qual}"


def resolve_ref(ref: str) -> Callable[..., Any]:
    """The function named by ``module:qualname`` or ``folder:module:qualname`` (imports it).

    The second form is a ``py:`` module of a workflow's folder. It is imported by file,
    under a private package whose only search path is that folder, so a ``steps.py`` or
    ``os.py`` there neither shadows nor is shadowed by an installed module. The folder
    also goes at the end of ``sys.path``, so that module's own ``import helpers`` works.
    """
    obj: Any = _module_of(ref)
    for part in ref.rpartition(":")[2].split("."):
        obj = getattr(obj, part)
    return obj


def ref_module(ref: str) -> tuple[str | None, str]:
    """``(folder, module)`` of a step ``ref``: the folder is set for the
    ``folder:module:qualname`` form (a ``py:`` module of a workflow's folder), else None."""
    head = ref.rpartition(":")[0]
    folder, sep, mod_name = head.rpartition(":")
    if sep and os.path.isabs(folder):
        return folder, mod_name
    return None, head


def _module_of(ref: str) -> ModuleType:
    """The module of a step ``ref``, imported as :func:`resolve_ref` says."""
    folder, mod_name = ref_module(ref)
    if folder is not None:
        return _import_from(folder, mod_name)
    return importlib.import_module(mod_name)


def _import_from(folder: str, mod_name: str) -> ModuleType:
    import importlib.util
    from importlib.machinery import ModuleSpec

    root = f"_flow_py_{zlib.crc32(os.fsencode(folder)):08x}"
    if root not in sys.modules:
        spec = ModuleSpec(root, None, is_package=True)
        spec.submodule_search_locations = [folder]
        sys.modules[root] = importlib.util.module_from_spec(spec)
        sys.path_importer_cache[folder] = _fresh_finder(folder)
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module(f"{root}.{mod_name}")


def _fresh_finder(folder: str) -> Any:
    """A finder for a workflow's folder whose ``.py`` modules compile from their source.

    Python's bytecode cache trusts a module whose size and mtime (in whole seconds) match
    the cached ones: an edit that keeps both (a quick save, a checkout, ``cp -p``) would
    run the old code while flow, which reads the source, says it ran the new. These
    modules are small; compiling them at each import costs milliseconds.
    """
    from importlib import machinery

    class FreshSource(machinery.SourceFileLoader):
        """A source loader that neither reads nor writes the bytecode cache."""

        def get_code(self, fullname: str) -> Any:
            """The module's code, compiled from its source now."""
            return self.source_to_code(self.get_data(self.path), self.path)

    return machinery.FileFinder(
        folder, (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
        (FreshSource, machinery.SOURCE_SUFFIXES))


class StepNotice(UserWarning):
    """A step's word to the user, said once in the summary (e.g. a multi-frame file).

    Steps raise it with ``warnings.warn(StepNotice("..."))``; the worker collects it.
    """
