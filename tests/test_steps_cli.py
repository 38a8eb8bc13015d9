"""`flow steps NAME`: each argument's type, default and allowed values, and an example that works.

The examples are taken from the real command's output for every built-in step,
wrapped into one workflow each and checked with the real `flow validate`. The
descriptions are read from the registry and must agree with the schemas beside
them: no reStructuredText markup, and no option a description offers that
validation refuses.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from steps.registry import BUILTIN_MODULES, collect
from tests.conftest import REPO

BUILTIN = {}
for _mod in BUILTIN_MODULES:
    BUILTIN.update(collect(__import__(_mod, fromlist=["_"])))


def test_one_step_shows_types_defaults_allowed_values_and_an_example(flow):
    res = flow("steps", "image.rotate")
    assert res.returncode == 0, res.stderr
    assert res.stdout == textwrap.dedent("""\
        image.rotate  Turn the image counter-clockwise by the given degrees (quarter turns exact).
        map step: an image in, an image out

        arguments (under with:)
          degrees  number, required; allowed: -360 to 360
                   angle, counter-clockwise (as Pillow); -90 turns clockwise
          expand   boolean, default: true
                   grow the canvas to hold the whole turned image (false: keep the size, corners
                   cut)
          filter   string, default: bicubic; allowed: nearest, bilinear, bicubic
                   resampling filter; bicubic (default) is the sharpest rotate offers
          color    string
                   fill for uncovered corners: a colour name or #rrggbb (default: black, or
                   transparent for images with alpha)

        example
          steps:
            - id: rotate
              from: photos
              uses: image.rotate
              with:
                degrees: 90
        """)


def test_choices_and_rules_of_the_whole_argument_set(flow):
    out = flow("steps", "image.resize", "image.thumbnail", "numeric.stats").stdout
    assert "  fit     string, default: contain; allowed: contain, cover, stretch, pad\n" in out
    assert "  needs: width or height\n" in out
    assert "  size    integer or list of 2 integers, required; allowed: 1 to 100000\n" in out
    assert "  median  boolean, default: true\n" in out
    assert "True" not in out


def test_a_step_without_arguments(flow):
    out = flow("steps", "numeric.sum").stdout
    assert out.splitlines()[:4] == [
        "numeric.sum  The sum of all values (exact for ints; 0 for none).",
        "reduce step: all items (numbers) in, a number out", "", "arguments: none"]


def _examples(text: str) -> dict[str, str]:
    """Each step's example block from `flow steps A B ...` output, by step name."""
    out = {}
    for block in text.split("\n\n\n"):
        name = block.split("  ", 1)[0]
        example = block.split("\nexample\n", 1)[1]
        out[name] = textwrap.dedent(example)
    return out


HEADER = """\
flow: 1
name: example
inputs:
  photos: {glob: "photos/*.jpg"}
  numbers: {range: {start: 1, stop: 10}}
"""


def test_every_builtin_example_validates(flow, tmp_path):
    res = flow("steps", *sorted(BUILTIN))
    assert res.returncode == 0, res.stderr
    examples = _examples(res.stdout)
    assert sorted(examples) == sorted(BUILTIN)
    files = []
    for name, example in examples.items():
        assert example.startswith("steps:\n  - id: "), (name, example)
        for arg in BUILTIN[name].reads:  # a file the step reads must exist: make a real one
            found = re.search(rf"^      {arg}: (.+)$", example, re.M)
            if found:
                path = tmp_path / found.group(1).strip().strip('"')
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGBA", (8, 8), (255, 0, 0, 128)).save(path)
        files.append(f"{name}.yaml")
        (tmp_path / files[-1]).write_text(HEADER + example)
    res = flow("validate", *files)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(": ok\n") == len(BUILTIN)


def test_unknown_step_is_named_with_a_suggestion(flow):
    res = flow("steps", "image.rotat")
    assert res.returncode == 2
    assert res.stderr == ("command line: error: unknown step 'image.rotat' "
                          "(did you mean 'image.rotate'?)\n"
                          "    hint: flow steps lists the available steps\n")


def test_listing_shows_every_step_without_markup(flow):
    res = flow("steps")
    assert res.returncode == 0
    names = [line.split()[0] for line in res.stdout.splitlines() if line.strip()][:-1]
    assert names == sorted(BUILTIN)
    assert "``" not in res.stdout
    assert res.stdout.splitlines()[-1] == (
        "flow steps NAME shows one step's arguments and an example")


# -- the descriptions agree with the schemas -------------------------------------------------

MARKUP = re.compile(r"``|:(?:func|class|mod|meth|attr|data|obj|ref):`")


def _descriptions():
    for name, sd in sorted(BUILTIN.items()):
        yield name, "", sd.description
        for arg, spec in sd.schema.get("properties", {}).items():
            yield name, arg, spec.get("description", "")


@pytest.mark.parametrize("name, arg, text", list(_descriptions()))
def test_descriptions_carry_no_markup(name, arg, text):
    assert not MARKUP.search(text), f"{name} {arg}: {text}"


def _choices() -> dict[str, set[str]]:
    """Every option word an argument of that name accepts, across the built-in steps."""
    out: dict[str, set[str]] = {}
    for sd in BUILTIN.values():
        for arg, spec in sd.schema.get("properties", {}).items():
            out.setdefault(arg, set()).update(str(v) for v in spec.get("enum", ()))
    return out


def _with_choices():
    for name, sd in sorted(BUILTIN.items()):
        for arg, spec in sd.schema.get("properties", {}).items():
            if "enum" in spec:
                yield name, arg, spec


@pytest.mark.parametrize("name, arg, spec", list(_with_choices()))
def test_every_option_a_description_names_is_accepted(name, arg, spec):
    """An option word of this argument (or of a namesake elsewhere) in the text is valid here,
    as is each ``word:`` a description explains, and "(default X)" is the default."""
    accepted = {str(v) for v in spec["enum"]}
    text = spec.get("description", "")
    words = set(re.findall(r"\w+", text))
    offered = words & _choices()[arg]
    explained = set(re.findall(r"(?:^|; )(\w+):", text))
    assert offered | explained <= accepted, f"{name} {arg}: {text}"
    for default in re.findall(r"(\w+) \(default\)|\(default:? (\w+)\)", text):
        assert spec.get("default") in default, f"{name} {arg}: {text}"


def test_rotate_refuses_lanczos_and_does_not_offer_it(flow, tmp_path):
    (tmp_path / "wf.yaml").write_text(HEADER + "steps:\n  - id: r\n    from: photos\n"
                                      "    uses: image.rotate\n"
                                      "    with: {degrees: 90, filter: lanczos}\n")
    res = flow("validate", "wf.yaml")
    assert res.returncode == 2
    assert "must be one of nearest, bilinear, bicubic, got 'lanczos'" in res.stderr
    assert "lanczos" not in flow("steps", "image.rotate").stdout


# -- a plugin's step: null defaults, markup cleaned for the screen ---------------------------

PLUGIN = '''\
"""A plugin."""
from steps import step


@step("acme.tint", schema={"type": "object", "properties": {
    "color": {"type": ["string", "null"], "default": None,
              "description": "a ``#rrggbb`` colour, see :func:`acme.colors.parse`"}}})
def tint(img, color=None):
    """Tint with ``color`` (see :class:`acme.Tint`)."""
    return img
'''


def test_plugin_step_shows_null_and_no_markup(tmp_path):
    site = tmp_path / "site"
    (site / "acme").mkdir(parents=True)
    (site / "acme" / "__init__.py").write_text("")
    (site / "acme" / "steps.py").write_text(PLUGIN)
    info = site / "acme-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flow.steps]\nacme = acme.steps\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}
    res = subprocess.run([sys.executable, "-m", "runner", "steps", "acme.tint"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:7] == [
        "acme.tint  Tint with color (see acme.Tint).",
        "map step: any value in, any value out",
        "",
        "arguments (under with:)",
        "  color  string or null, default: null",
        "         a #rrggbb colour, see acme.colors.parse()",
        ""]

