"""docs/: the references are what the schemas make of them now, and the guide's examples run.

The committed ``docs/workflow-format.md`` and ``docs/steps.md`` must be exactly
what ``flow docs`` makes from the schemas today (change a schema or a step's
description, then run ``flow docs docs``). The guide's files are written out and
run with the real ``flow``; the README links every page.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from runner.compile.schema import base_schema
from tests.conftest import REPO, make_photos

DOCS = REPO / "docs"
GENERATED = ("workflow-format.md", "steps.md")


def test_committed_references_are_what_the_schemas_make_now(flow):
    res = flow("docs", "--check", str(DOCS))
    assert res.returncode == 0, res.stdout + res.stderr + "\nrun: flow docs docs"
    assert res.stdout == ""


def test_check_names_a_reference_that_drifted_and_docs_rewrites_it(flow, tmp_path):
    copy = tmp_path / "docs"
    copy.mkdir()
    for name in GENERATED:
        shutil.copy(DOCS / name, copy / name)
    stale = copy / "steps.md"
    stale.write_text(stale.read_text().replace("Gaussian blur radius", "blur radius"))
    res = flow("docs", "--check", "docs")
    assert res.returncode == 1
    assert res.stdout == "docs/steps.md is out of date: run flow docs docs\n"
    assert "blur radius" in stale.read_text() and "Gaussian blur radius" not in stale.read_text()
    assert flow("docs", "docs").stdout == "wrote docs/steps.md\n"
    assert stale.read_text() == (DOCS / "steps.md").read_text()
    assert flow("docs", "--check", "docs").returncode == 0


def test_docs_command_stays_out_of_the_help(flow):
    listed = [line.split()[0] for line in flow("--help").stdout.splitlines()
              if line.startswith("    ")]
    assert "init" in listed and "docs" not in listed


def _keys(schema, path=""):
    """(path, schema) of every key the workflow format has."""
    if not isinstance(schema, dict):
        return
    for key, spec in (schema.get("properties") or {}).items():
        yield f"{path}{key}", spec
        yield from _keys(spec, f"{path}{key}.")
    for key in ("items", "additionalProperties"):
        yield from _keys(schema.get(key), path)
    for alt in schema.get("anyOf", ()):
        yield from _keys(alt, path)


def test_every_key_of_the_format_says_what_it_is():
    missing = [path for path, spec in _keys(base_schema()) if not spec.get("description")]
    assert missing == []


def test_format_reference_lists_every_key_and_field():
    text = (DOCS / "workflow-format.md").read_text()
    for path, _ in _keys(base_schema()):
        assert f"| `{path.rsplit('.', 1)[-1]}` |" in text, path
    for field in ("stem", "name", "ext", "parent", "relpath", "index"):
        assert f"| `{{{field}}}` |" in text


def test_readme_links_every_page_and_every_link_resolves():
    readme = (REPO / "README.md").read_text()
    for page in ("docs/workflow-format.md", "docs/steps.md", "docs/sharing.md"):
        assert f"]({page})" in readme, page
    for doc in [REPO / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links {target}"


def _guide_files(root: Path) -> list[str]:
    """Write each "File `x`:" block of the sharing guide under ``root``; their names."""
    text = (DOCS / "sharing.md").read_text()
    names = []
    for name, body in re.findall(r"File `([^`]+)`:\n\n```\w+\n(.*?)```", text, re.S):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
        names.append(name)
    return names


def test_the_sharing_guide_examples_run(flow, tmp_path):
    assert _guide_files(tmp_path) == ["mysteps.py", "bright.yaml", "teamsteps/steps.py",
                                      "shared/thumbs.yaml", "site.yaml"]
    make_photos(tmp_path / "photos", count=3)
    for wf in ("bright.yaml", "site.yaml"):
        res = flow("run", wf, "--no-live")
        assert res.returncode == 0, res.stdout + res.stderr
    assert len(list((tmp_path / "build" / "bright").glob("*.jpg"))) == 3
    assert (tmp_path / "build" / "site" / "sheet.jpg").is_file()
    # What the guide says of teamsteps/steps.py: beside the workflow, py: runs its steps.
    (tmp_path / "team.yaml").write_text(
        'flow: 1\nname: team\ninputs:\n  photos: {glob: "photos/*.jpg"}\n'
        "  nums: {values: [3, 9, 4]}\nsteps:\n"
        "  - id: vignette\n    from: photos\n    uses: py:teamsteps.steps:vignette\n"
        "    with: {strength: 0.7}\n"
        '  - id: save\n    uses: image.save\n    with: {to: "build/team/{stem}.jpg"}\n'
        "  - id: spread\n    from: nums\n    uses: py:teamsteps.steps:spread\n"
        "  - id: write\n    uses: io.write\n    with: {to: build/team/spread.json}\n")
    res = flow("run", "team.yaml", "--no-live")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "build" / "team" / "spread.json").read_text().strip() == "6"
