"""Reading YAML safely into a positioned tree, and ${param} substitution.

Each test writes a real file and checks what a user would see: the exact
``file:line:col: error: ...`` headline, or the values the tree holds.
"""

from __future__ import annotations

import time

import pytest

from runner.compile.load import MAX_DEPTH, load_file, parse
from runner.compile.params import check_output, parse_cli_value, resolve_params, substitute
from runner.compile.tree import Map, Scalar, Seq, to_plain
from runner.errors import Collector, FlowError, Pos
from tests.timing import limit


def headlines(err: FlowError) -> list[str]:
    return [p.headline() for p in err.problems]


def load_errors(tmp_path, monkeypatch, text: str) -> list[str]:
    """The headlines loading ``wf.yaml`` with ``text`` gives (it must fail)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wf.yaml").write_text(text)
    with pytest.raises(FlowError) as info:
        load_file("wf.yaml")
    assert info.value.exit_code == 2
    return headlines(info.value)


# -- syntax, documents, top level --------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("a: [1, 2\nb: 3\n",
     "wf.yaml:2:2: error: YAML syntax error: did not find expected ',' or ']'"),
    ("a: 1\n\tb: 2\n", "wf.yaml:2:1: error: a tab in the indentation"),
    ("a: 'open\n",
     "wf.yaml:2:1: error: YAML syntax error: found unexpected end of stream"),
])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_syntax_errors_point_at_the_parser_position(tmp_path, monkeypatch, text, expected,
                                                    newline):
    assert load_errors(tmp_path, monkeypatch, text.replace("\n", newline)) == [expected]


def test_tab_indentation_gets_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wf.yaml").write_text("a: 1\n\tb: 2\n")
    with pytest.raises(FlowError) as info:
        load_file("wf.yaml")
    assert info.value.problems[0].hint == "YAML indents with spaces, not tabs"


def test_second_document_refused(tmp_path, monkeypatch):
    assert load_errors(tmp_path, monkeypatch, "flow: 1\n---\nflow: 2\n") == [
        "wf.yaml:2:1: error: a second YAML document; a workflow file holds one"]


@pytest.mark.parametrize("text, what, where", [
    ("- a\n- b\n", "a list", "1:1"),
    ("just text\n", "a single value", "1:1"),
    ("", "empty", "1:1"),
    ("# nothing but a comment\n", "empty", "1:1"),
])
def test_top_level_must_be_a_mapping(tmp_path, monkeypatch, text, what, where):
    assert load_errors(tmp_path, monkeypatch, text) == [
        f"wf.yaml:{where}: error: the top level must be a mapping (flow: 1, name: ..., "
        f"inputs: ..., steps: ...), but the file is {what}"]


def test_unreadable_and_non_utf8_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FlowError) as info:
        load_file("missing.yaml")
    assert headlines(info.value) == [
        "missing.yaml: error: cannot read the workflow file: No such file or directory"]
    (tmp_path / "latin.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(FlowError) as info:
        load_file("latin.yaml")
    assert headlines(info.value) == ["latin.yaml:2:7: error: the file is not UTF-8 text"]


# -- duplicate keys, tags ---------------------------------------------------------------------

def test_duplicate_keys_anywhere_each_reported(tmp_path, monkeypatch):
    text = ("flow: 1\n"
            "steps:\n"
            "  - id: a\n"
            "    with: {to: x, to: y}\n"
            "    id: b\n"
            "flow: 1\n")
    assert load_errors(tmp_path, monkeypatch, text) == [
        "wf.yaml:4:19: error: duplicate key 'to' (first at line 4)",
        "wf.yaml:5:5: error: duplicate key 'id' (first at line 3)",
        "wf.yaml:6:1: error: duplicate key 'flow' (first at line 1)",
    ]


def test_duplicates_go_to_a_collector_and_the_first_value_is_kept(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text("a: 1\na: 2\n")
    problems = Collector()
    root = load_file(str(path), problems)
    assert to_plain(root) == {"a": 1}
    assert [p.message for p in problems.problems] == ["duplicate key 'a' (first at line 1)"]


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system", "!!python/name:os.system", "!!binary", "!custom"])
def test_object_tags_refused_and_never_run(tmp_path, monkeypatch, tag):
    marker = tmp_path / "pwned"
    text = f"cmd: {tag} ['touch {marker}']\n" if "apply" in tag else f"cmd: {tag} x\n"
    errs = load_errors(tmp_path, monkeypatch, text)
    assert errs == [f"wf.yaml:1:6: error: tag {tag} is not allowed: a workflow is plain data "
                    "(mappings, lists, strings, numbers, booleans)"]
    assert not marker.exists()


# -- alias bombs and nesting ------------------------------------------------------------------

def _alias_bomb() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [{','.join(['*' + prev] * 9)}]\n"
        prev = name
    return text


@pytest.mark.timing
def test_alias_bomb_refused_fast(tmp_path, monkeypatch):
    bomb = _alias_bomb()  # the classic "billion laughs" in 600 bytes: 9**9 strings expanded
    start = time.perf_counter()
    errs = load_errors(tmp_path, monkeypatch, bomb)
    assert time.perf_counter() - start < limit(0.5)
    assert errs == ["wf.yaml:6:8: error: the document expands to more than 100000 nodes "
                    "(aliases that repeat aliases?); refused"]


def test_aliases_below_the_limit_are_shared_values(tmp_path):
    root = parse("base: &b {retries: 2}\none: *b\ntwo: {<<: *b, timeout: 3}\n", "wf.yaml")
    assert to_plain(root) == {"base": {"retries": 2}, "one": {"retries": 2},
                              "two": {"timeout": 3, "retries": 2}}


@pytest.mark.parametrize("text, message", [
    ("a: &x [1, *x]\n", "wf.yaml:1:11: error: alias *x refers to a node that contains it"),
    ("a: *nowhere\n", "wf.yaml:1:4: error: alias *nowhere names no anchor above it"),
])
def test_bad_aliases(tmp_path, monkeypatch, text, message):
    assert load_errors(tmp_path, monkeypatch, text) == [message]


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_depth_bounded_without_recursion_error(tmp_path, monkeypatch, style):
    depth = 5000
    if style == "flow":
        text = "a: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "x\n"
    errs = load_errors(tmp_path, monkeypatch, text)
    assert len(errs) == 1
    assert errs[0].endswith(f"error: nested deeper than {MAX_DEPTH} levels; refused")


def test_nesting_up_to_the_limit_is_fine(tmp_path):
    depth = MAX_DEPTH - 1
    root = parse("a: " + "[" * depth + "1" + "]" * depth + "\n", "wf.yaml")
    assert isinstance(root, Map)


# -- positions and values ---------------------------------------------------------------------

def test_every_node_has_its_line_and_column():
    text = ("steps:\n"
            "  - id: shrink\n"
            "    with: {size: 256, to: \"é/{stem}.jpg\", n: [1, 2]}\n")
    root = parse(text, "wf.yaml")
    step = root.get("steps").items[0]  # type: ignore[union-attr]
    assert step.pos == Pos("wf.yaml", 2, 5)
    w = step.get("with")
    assert w.key_node("to").pos == Pos("wf.yaml", 3, 23)
    assert w.get("to").pos == Pos("wf.yaml", 3, 27)
    assert w.get("n").items[1].pos == Pos("wf.yaml", 3, 50)  # columns count characters


def test_yaml_11_scalars_keep_their_text():
    root = parse("a: no\nb: 'no'\nc: 2024-01-01\nd: 0x1F\ne: ~\non: 1\n", "wf.yaml")
    a, b = root.get("a"), root.get("b")
    assert (a.value, a.text, a.plain) == (False, "no", True)
    assert (b.value, b.plain) == ("no", False)
    assert root.get("c").value == "2024-01-01"  # timestamps stay text
    assert root.get("d").value == 31
    assert root.get("e").value is None
    assert root.names() == ["a", "b", "c", "d", "e", "on"]  # keys are names as written


# -- params -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, value", [
    ("512", 512), ("0.5", 0.5), ("build/out", "build/out"), ("true", True),
    ("[1, 2]", [1, 2]), ("'007'", "007"), ("", ""), ("a: b", "a: b"), ("[1, {x", "[1, {x"),
])
def test_cli_values_are_yaml_scalars(raw, value):
    assert parse_cli_value(raw) == value


def _subst(text: str, cli: dict[str, str] | None = None) -> tuple[object, list[str]]:
    root = parse(text, "wf.yaml")
    assert isinstance(root, Map)
    problems = Collector()
    params = resolve_params(root.get("params"), "wf.yaml", cli, None, problems)
    out = substitute(root.get("use"), params, "use", problems)
    return to_plain(out), [p.headline() for p in problems.problems]


def test_whole_param_keeps_its_type_and_embedded_becomes_text():
    value, errs = _subst("params: {size: 256, dims: [3, 4], out: build, on: yes}\n"
                         "use: {a: '${size}', b: '${dims}', c: '${out}/{stem}-${size}.jpg',\n"
                         "      d: '$${size}', e: ['${on}']}\n")
    assert errs == []
    assert value == {"a": 256, "b": [3, 4], "c": "build/{stem}-256.jpg", "d": "${size}",
                     "e": [True]}


def test_params_use_params_above_and_cli_overrides():
    value, errs = _subst("params: {base: out, dir: '${base}/thumbs'}\nuse: '${dir}'\n",
                         {"base": "web"})
    assert (value, errs) == ("web/thumbs", [])


def test_unknown_and_misplaced_param_references():
    _, errs = _subst("params:\n  a: '${b}'\n  b: 1\n"
                     "use:\n  x: '${sizee}'\n  y: 'n-${dims}'\n  z: '${bad name}'\n"
                     "  w: 'a ${a'\n", None)
    assert errs == [
        "wf.yaml:2:6: error: params.a: param 'b' is declared below; a param can only use "
        "the params above it",
        "wf.yaml:5:6: error: use.x: unknown param 'sizee'",
        "wf.yaml:6:6: error: use.y: unknown param 'dims'",
        "wf.yaml:7:6: error: use.z: '${bad name}' is not a param reference: a param name is "
        "letters, digits, '_' and '-'",
        "wf.yaml:8:6: error: use.w: '${' without a closing '}'",
    ]


def test_did_you_mean_for_params_and_unknown_cli_name():
    _, errs = _subst("params: {size: 1}\nuse: '${sise}'\n", {"sizee": "3"})
    assert errs == ["wf.yaml: error: unknown param 'sizee' given with -p (did you mean 'size'?)",
                    "wf.yaml:2:6: error: use: unknown param 'sise' (did you mean 'size'?)"]


def test_list_param_inside_a_longer_string_is_an_error():
    _, errs = _subst("params: {dims: [1, 2]}\nuse: 'x-${dims}'\n")
    assert errs == ["wf.yaml:2:6: error: use: param 'dims' is a list: use it as a whole "
                    "value, alone in its string"]


def test_substituted_list_points_at_the_place_of_use():
    root = parse("params: {dims: [1, 2]}\nuse: '${dims}'\n", "wf.yaml")
    params = resolve_params(root.get("params"), "wf.yaml", None, None, Collector())
    out = substitute(root.get("use"), params, "use", Collector())
    assert isinstance(out, Seq) and out.items[0].pos == Pos("wf.yaml", 2, 6)
    assert isinstance(out.items[0], Scalar) and out.items[0].via == "dims"


# -- output templates -------------------------------------------------------------------------

@pytest.mark.parametrize("text, reduce, expected", [
    ("out/{stem}.jpg", False, []),
    ("out/{index:04d}-{parent}{ext}", False, []),
    ("out/{{literal}}.json", True, []),
    ("out/{stemm}.jpg", False, ["unknown per-item field {stemm} (did you mean 'stem'?)"]),
    ("out/{stem}.json", True,
     ["a reduce step writes one file: per-item field {stem} has no meaning here"]),
    ("out/{stem.jpg", False, ["bad output template 'out/{stem.jpg': expected '}' before end "
                              "of string"]),
    ("/tmp/{stem}.jpg", False,
     ["output path escapes the working directory: '/tmp/{stem}.jpg'"]),
    ("a/../../{stem}.jpg", False,
     ["output path escapes the working directory: 'a/../../{stem}.jpg'"]),
    ("a/../{stem}.jpg", False, []),
])
def test_output_templates(text, reduce, expected):
    assert [m for m, _ in check_output(text, reduce, allow_outside=False)] == expected


def test_allow_outside_lets_absolute_outputs_through():
    assert check_output("/tmp/{stem}.jpg", False, allow_outside=True) == []
