"""Writing workflows in an editor: the schema `flow schema` prints, seen through a real
YAML language server (the one VS Code's YAML extension runs), and the pre-commit hook.

The server is `yaml-language-server` from npm, installed in .ci/editor/ (`.ci/run`
does `npm ci --prefix .ci/editor`); it is driven over stdio as an editor drives it:
initialize, the `yaml.schemas` setting pointing at the file `flow schema` wrote, open
a document, read the diagnostics it publishes, ask for completion and hover.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.conftest import REPO, run_flow
from tests.lsp import LanguageServer

SERVER = REPO / ".ci" / "editor" / "node_modules" / "yaml-language-server" / "bin" / \
    "yaml-language-server"

# A valid workflow, written as users write them: params where the schema wants an integer
# or one of a list, plain in a block mapping, quoted in a flow mapping, spaced, hyphenated.
GOOD = """\
flow: 1
name: shrink
params: {size: 256, filter: lanczos, quality: 85, out-dir: build}
inputs:
  photos:
    glob: "photos/*.jpg"
steps:
  - id: fit
    from: photos
    uses: image.resize
    with:
      width: ${size}
      height: 100
      fit: contain
      filter: "${ filter }"
  - id: save
    uses: image.save
    retries: 1
    with: {to: "${out-dir}/{stem}.jpg", quality: "${quality}"}
"""

# (what, the text in GOOD, its replacement, a word the message must hold): the mistake's
# diagnostic belongs on the replacement's last line.
MISTAKES = [
    ("unknown step", "uses: image.resize", "uses: image.resise", "image.resize"),
    ("unknown top-level key", "flow: 1", "flow: 1\ncolour: red", "colour"),
    ("unknown argument", "fit: contain", "fit: contain\n      sharpen: 2", "sharpen"),
    ("string for an integer", "height: 100", "height: tall", "integer"),
    ("value outside the enum", "fit: contain", "fit: sideways", "contain"),
    ("wrong type outside with", "retries: 1", "retries: many", "integer"),
    ("escaped ${ is text", "height: 100", 'height: "$${size}"', "integer"),
]


def _pos(text: str, needle: str, offset: int = 0) -> dict[str, int]:
    """The LSP position of ``needle`` (plus ``offset`` characters) in ``text``."""
    at = text.index(needle) + offset
    line = text.count("\n", 0, at)
    return {"line": line, "character": at - (text.rfind("\n", 0, at) + 1)}


def _flat(value: object) -> str:
    """Hover or documentation contents as one string, whatever their LSP shape."""
    if isinstance(value, dict):
        return str(value.get("value", ""))
    if isinstance(value, list):
        return "\n".join(_flat(v) for v in value)
    return "" if value is None else str(value)


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    """A running language server that maps `mapped/*.yaml` to the schema `flow schema` wrote."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the editor tests need Node.js")
    if not SERVER.exists():
        pytest.skip("yaml-language-server is not installed: run `npm ci --prefix .ci/editor`")
    root = tmp_path_factory.mktemp("editor")
    out = run_flow("schema", cwd=root)
    assert out.returncode == 0, out.stderr
    schema = root / "flow.schema.json"
    schema.write_text(out.stdout)
    (root / "mapped").mkdir()
    # As the README's .vscode/settings.json: paths relative to the workspace folder.
    settings = {"yaml": {"schemas": {"./flow.schema.json": ["mapped/*.yaml"]},
                         "validate": True, "hover": True, "completion": True}}
    with LanguageServer(["node", str(SERVER), "--stdio"], root, settings) as server:
        server.folder = root / "mapped"
        yield server


def _diagnostics(editor, name: str, text: str) -> list[dict]:
    return editor.diagnostics(editor.open(editor.folder / name, text))


def _ready(editor, name: str, text: str) -> str:
    """Open a document and wait until the server has read it (its diagnostics came)."""
    uri = editor.open(editor.folder / name, text)
    editor.diagnostics(uri)
    return uri


def _show(diags: list[dict]) -> list[str]:
    return [f"{d['range']['start']['line'] + 1}: {d['message']}" for d in diags]


@pytest.mark.parametrize("path", sorted((REPO / "workflows").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_workflow_is_clean_in_the_editor(editor, path):
    diags = _diagnostics(editor, path.name, path.read_text())
    assert diags == [], _show(diags)


def test_params_are_accepted_where_literals_are_checked(editor):
    diags = _diagnostics(editor, "good.yaml", GOOD)
    assert diags == [], _show(diags)


@pytest.mark.parametrize("what,old,new,word", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_flagged_on_its_line(editor, what, old, new, word):
    text = GOOD.replace(old, new, 1)
    line = _pos(text, new.splitlines()[-1])["line"]
    diags = _diagnostics(editor, f"mistake-{MISTAKES.index((what, old, new, word))}.yaml", text)
    assert diags, f"{what}: no diagnostic"
    assert {d["range"]["start"]["line"] for d in diags} == {line}, _show(diags)
    assert any(word in d["message"] for d in diags), _show(diags)


def test_the_header_line_alone_brings_the_schema(editor, tmp_path):
    # Outside `mapped/`: only the modeline the README documents ties it to the schema.
    schema = editor.folder.parent / "flow.schema.json"
    head = f"# yaml-language-server: $schema={os.path.relpath(schema, tmp_path)}\n"
    text = head + GOOD.replace("fit: contain", "fit: sideways")
    diags = editor.diagnostics(editor.open(tmp_path / "wf.yaml", text))
    assert _show(diags) and all(d["range"]["start"]["line"] == _pos(text, "sideways")["line"]
                                for d in diags), _show(diags)


def _completion(editor, name: str, text: str, after: str) -> dict[str, dict]:
    uri = _ready(editor, name, text)
    result = editor.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": _pos(text, after, len(after))})
    return {item["label"]: item for item in (result["items"] if isinstance(result, dict)
                                             else result)}


def test_step_names_complete_with_their_descriptions(editor):
    from steps.registry import load_registry

    items = _completion(editor, "complete.yaml", GOOD.replace("uses: image.resize", "uses: "),
                        "uses: ")
    registry = load_registry()
    assert set(registry) <= set(items), sorted(set(registry) - set(items))
    for name in ("image.resize", "numeric.stats", "io.write"):
        assert _flat(items[name].get("documentation")) == registry[name].description


def test_argument_values_complete_next_to_params(editor):
    items = _completion(editor, "values.yaml", GOOD.replace("fit: contain", "fit: "), "fit: ")
    assert {"contain", "cover", "stretch", "pad"} <= set(items), sorted(items)


def test_arguments_show_description_default_and_values_on_hover(editor):
    uri = _ready(editor, "hover.yaml", GOOD)

    def hover(needle: str) -> str:
        return _flat(editor.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": _pos(GOOD, needle, 1)})["contents"])

    fit = hover("fit: contain")
    assert "contain: fit inside, keep aspect" in fit  # the argument's description
    assert "Default: `contain`" in fit, fit
    assert "`sideways`" not in fit and "`cover`" in fit  # the allowed values
    quality = hover('quality: "${quality}"')  # a param there: still the argument
    # quality's default depends on the format, so its description says it, per format
    assert "JPEG, WebP and AVIF quality" in quality and "JPEG 85" in quality, quality
    assert "target width in pixels" in hover("width: ${size}")
    assert "Resize to width x height" in hover("with:\n      width"), "the step's description"


def test_the_schema_means_the_same_to_jsonschema():
    # Not only one editor's reading: a Draft 2020-12 validator agrees on the same files.
    from jsonschema import Draft202012Validator

    out = run_flow("schema", cwd=REPO)
    validator = Draft202012Validator(json.loads(out.stdout))
    for path in sorted((REPO / "workflows").glob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path.name, errors)
    assert not list(validator.iter_errors(yaml.safe_load(GOOD)))
    for what, old, new, _ in MISTAKES:
        doc = yaml.safe_load(GOOD.replace(old, new, 1))
        assert list(validator.iter_errors(doc)), what


def test_flow_validate_agrees_with_the_editor(tmp_path):
    # The editor's clean file is one flow accepts, and each mistake is refused on its line.
    (tmp_path / "good.yaml").write_text(GOOD)
    names = ["good.yaml"]
    for i, (_, old, new, _) in enumerate(MISTAKES):
        names.append(f"mistake{i}.yaml")
        (tmp_path / names[-1]).write_text(GOOD.replace(old, new, 1))
    out = run_flow("validate", *names, cwd=tmp_path)
    assert out.returncode == 2
    assert "good.yaml: ok" in out.stdout, out.stdout + out.stderr
    found = re.findall(r"^(mistake\d+)\.yaml:(\d+):\d+: error", out.stderr, re.M)
    lines = [_pos(GOOD.replace(old, new, 1), new.splitlines()[-1])["line"] + 1
             for _, old, new, _ in MISTAKES]
    assert sorted(set(found)) == sorted((f"mistake{i}", str(n)) for i, n in enumerate(lines))


# -- the pre-commit hook ------------------------------------------------------------------

def _hook() -> dict:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return next(h for h in hooks if h["id"] == "flow-validate")


def _selected(hook: dict, changed: list[str]) -> list[str]:
    """The changed files pre-commit hands the hook: `files` and `exclude` (regexes searched
    in the path), `types: [yaml]` (the suffix)."""
    keep = []
    for name in changed:
        if not re.search(hook.get("files", ""), name):
            continue
        if hook.get("exclude") and re.search(hook["exclude"], name):
            continue
        if "yaml" in hook.get("types", []) and not name.endswith((".yaml", ".yml")):
            continue
        keep.append(name)
    return keep


def test_pre_commit_hook_validates_the_changed_workflows(tmp_path):
    hook = _hook()
    assert hook["language"] == "python" and hook.get("pass_filenames", True)
    repo = tmp_path / "repo"
    wf = repo / "workflows"
    wf.mkdir(parents=True)
    good = textwrap.dedent("""\
        flow: 1
        name: nums
        inputs:
          n: {values: [1, 2, 3]}
        steps:
          - id: scale
            from: n
            uses: numeric.scale
            with: {factor: 2}
        """)
    (wf / "good.yaml").write_text(good)
    (wf / "bad.yml").write_text(good.replace("{factor: 2}", "{factor: big}"))
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yaml").write_text("on: push\njobs: {}\n")
    (repo / "notes.md").write_text("not a workflow\n")
    # pre-commit installs the package, whose `flow` script calls runner.__main__:entry.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "flow").write_text(f"#!{sys.executable}\nimport sys\n"
                                  "from runner.__main__ import entry\nsys.exit(entry())\n")
    (bin_dir / "flow").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO)}

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=repo, check=True, capture_output=True, text=True).stdout

    def run_hook(paths: list[str]) -> subprocess.CompletedProcess:
        git("add", "-A", *paths)
        changed = git("diff", "--cached", "--name-only").split()
        files = _selected(hook, changed)
        return subprocess.run([*shlex.split(hook["entry"]), *hook.get("args", []), *files],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=60)

    git("init", "-q")
    assert _selected(hook, ["workflows/good.yaml", "workflows/bad.yml", "notes.md",
                            ".github/workflows/ci.yaml", "workflows/sub/inc.yaml"]) == \
        ["workflows/good.yaml", "workflows/bad.yml", "workflows/sub/inc.yaml"]
    ok = run_hook(["workflows/good.yaml", "notes.md", ".github"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "workflows/good.yaml: ok" in ok.stdout
    git("commit", "-q", "-m", "good")
    bad = run_hook(["workflows/bad.yml"])
    assert bad.returncode != 0
    out = bad.stdout + bad.stderr
    assert re.search(r"workflows/bad\.yml:9:\d+: error: .*factor", out), out
    assert "Traceback" not in out
