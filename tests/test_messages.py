"""The mistakes new users make most, and exactly what `flow validate` tells them.

Each test writes the mistake into a real file and runs the real `flow validate`;
the whole of stderr is compared, so the line shown, the caret and the hint are
part of what is checked, not only the headline.
"""

from __future__ import annotations

import textwrap

import pytest

STEP = """\
flow: 1
name: demo
params: {size: 64, out: build}
inputs:
  photos:
    glob: "photos/*.jpg"
steps:
  - id: fit
    from: photos
    uses: image.resize
"""  # the step's keys are at column 5; the next line is line 11


def validate(flow, tmp_path, text: str, *extra: str):
    (tmp_path / "wf.yaml").write_text(textwrap.dedent(text))
    return flow("validate", "wf.yaml", *extra)


def said(res) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res.stderr


# -- the six mistakes, and what a new user sees -------------------------------------------------

SEEN = {
    "a ${param} unquoted in a flow mapping": (
        STEP + "    with: {width: ${size}, height: 64}\n",
        'wf.yaml:11:19: error: ${size} inside { } must be quoted: YAML reads its braces '
        'as a mapping\n'
        '        with: {width: ${size}, height: 64}\n'
        '                      ^\n'
        '    hint: quote it: "${size}"\n'),
    "a tab in the indentation": (
        STEP + "    with:\n\twidth: 64\n",
        "wf.yaml:12:1: error: a tab in the indentation\n"
        "    \twidth: 64\n"
        "    ^\n"
        "    hint: YAML indents with spaces, not tabs\n"),
    "a glob read as an alias": (
        STEP.replace('glob: "photos/*.jpg"', "glob: *.jpg") + "    with: {width: 8}\n",
        "wf.yaml:6:11: error: '*.jpg' must be quoted: YAML reads a value that starts with * "
        "as an alias\n"
        "        glob: *.jpg\n"
        "              ^\n"
        '    hint: quote it: glob: "*.jpg"\n'),
    "a template read as a mapping": (
        STEP.replace("image.resize", "image.save") + "    with:\n      to: {stem}.jpg\n",
        "wf.yaml:12:11: error: '{stem}.jpg' must be quoted: YAML reads a value that starts "
        "with { as a mapping\n"
        "          to: {stem}.jpg\n"
        "              ^\n"
        '    hint: quote it: to: "{stem}.jpg"\n'),
    "with: indented less than its step": (
        STEP + "  with:\n    width: 64\n",
        "wf.yaml:11:3: error: 'with:' is indented less than the step it belongs to\n"
        "      with:\n"
        "      ^\n"
        "    hint: line it up with 'uses:' on line 10 (column 5)\n"),
    "an argument left unindented under with:": (
        STEP + "    with:\n    width: 64\n",
        "wf.yaml:12:5: error: steps[0]: 'width' is an argument of image.resize: it belongs "
        "under 'with:'\n"
        "        width: 64\n"
        "        ^\n"
        "    hint: indent it further than 'with:' on line 11\n"),
    # Near relatives of the six.
    "a template that is only a field": (
        STEP.replace("image.resize", "image.save") + "    with:\n      to: {stem}\n",
        "wf.yaml:12:11: error: steps[0].with.to: expected a string, got a mapping\n"
        "          to: {stem}\n"
        "              ^\n"
        '    hint: YAML reads {stem} as a mapping: quote it: to: "{stem}"\n'),
    "a star value that is a valid alias name": (
        STEP.replace('glob: "photos/*.jpg"', "glob: *jpg") + "    with: {width: 8}\n",
        "wf.yaml:6:11: error: alias *jpg names no anchor above it\n"
        "        glob: *jpg\n"
        "              ^\n"
        '    hint: YAML reads a value that starts with * as an alias; for the text, '
        'quote it: glob: "*jpg"\n'),
    "with: indented more than its step": (
        STEP + "      with:\n        width: 64\n",
        "wf.yaml:11:7: error: 'with:' is indented more than the key above it\n"
        "          with:\n"
        "          ^\n"
        "    hint: line it up with 'uses:' on line 10 (column 5): a key cannot go under "
        "a value\n"),
    "': ' inside an unquoted value": (
        STEP.replace("name: demo", "name: demo\ndescription: Thumbnails: small ones"),
        "wf.yaml:3:24: error: ': ' inside an unquoted value: YAML reads it as the start of "
        "another key\n"
        "    description: Thumbnails: small ones\n"
        "                           ^\n"
        '    hint: quote it: description: "Thumbnails: small ones"\n'),
    "an argument written without with:": (
        STEP + "    width: 64\n",
        "wf.yaml:11:5: error: steps[0]: 'width' is an argument of image.resize: it belongs "
        "under 'with:'\n"
        "        width: 64\n"
        "        ^\n"
        "    hint: write it as  with: {width: 64}\n"),
}


@pytest.mark.parametrize("mistake", list(SEEN))
def test_what_a_new_user_sees(flow, tmp_path, mistake):
    text, expected = SEEN[mistake]
    assert said(validate(flow, tmp_path, text)) == expected


def test_template_with_a_param_unquoted_in_a_flow_list(flow, tmp_path):
    text = STEP.replace('glob: "photos/*.jpg"', 'glob: [${out}/*.jpg, x.png]')
    res = validate(flow, tmp_path, text + "    with: {width: 8}\n")
    assert said(res).splitlines()[0] == (
        "wf.yaml:6:12: error: ${out}/*.jpg inside [ ] must be quoted: YAML reads its braces "
        "as a mapping")
    assert said(res).splitlines()[-1] == '    hint: quote it: "${out}/*.jpg"'


def test_tab_after_spaces_in_indentation(flow, tmp_path):
    res = validate(flow, tmp_path, STEP + "    with:\n      \twidth: 64\n")
    assert said(res).splitlines()[0] == "wf.yaml:12:7: error: a tab in the indentation"


@pytest.mark.parametrize("glob, col, value", [("**/*.jpg", 11, "**/*.jpg"),
                                               ("[*.jpg, *.png]", 12, "*.jpg")])
def test_glob_starting_with_a_star(flow, tmp_path, glob, col, value):
    text = STEP.replace('glob: "photos/*.jpg"', f"glob: {glob}")
    res = validate(flow, tmp_path, text + "    with: {width: 8}\n")
    key = "glob: " if not glob.startswith("[") else ""
    assert said(res) == (
        f"wf.yaml:6:{col}: error: '{value}' must be quoted: YAML reads a value that starts "
        "with * as an alias\n"
        f"        glob: {glob}\n"
        + " " * (col + 3) + "^\n"
        f'    hint: quote it: {key}"{value}"\n')


def test_with_indented_by_one_space_too_few(flow, tmp_path):
    res = validate(flow, tmp_path, STEP + "   with:\n    width: 64\n")
    assert said(res).splitlines()[0] == (
        "wf.yaml:11:4: error: 'with:' is indented less than the step it belongs to")


def test_arguments_left_unindented_are_still_checked(flow, tmp_path):
    res = validate(flow, tmp_path, STEP + "    with:\n    width: 64\n    fit: squash\n")
    lines = [ln for ln in said(res).splitlines() if "error:" in ln]
    assert lines == [
        "wf.yaml:12:5: error: steps[0]: 'width' is an argument of image.resize: it belongs "
        "under 'with:'",
        "wf.yaml:13:5: error: steps[0]: 'fit' is an argument of image.resize: it belongs "
        "under 'with:'",
        "wf.yaml:13:10: error: steps[0].with.fit: must be one of contain, cover, stretch, pad, "
        "got 'squash'"]


def test_a_real_typo_of_a_step_key_is_still_named(flow, tmp_path):
    res = validate(flow, tmp_path, STEP + "    with: {width: 8}\n    retires: 2\n")
    assert said(res).splitlines()[0] == (
        "wf.yaml:12:5: error: steps[0]: unknown key 'retires' (did you mean 'retries'?)")


# -- values given with -p -----------------------------------------------------------------------

PARAMS = STEP + """\
    with:
      width: ${size}
  - id: save
    uses: image.save
    with: {to: "${out}/{stem}.jpg"}
"""


def test_bad_value_from_p_says_it_came_from_p(flow, tmp_path):
    res = validate(flow, tmp_path, PARAMS, "-p", "size=abc")
    assert said(res) == (
        "wf.yaml:12:14: error: steps[0].with.width: expected an integer, got 'abc' "
        "(size=abc given with -p)\n"
        "          width: ${size}\n"
        "                 ^\n")


def test_yaml_surprise_from_p_says_how_to_quote_on_the_command_line(flow, tmp_path):
    text = PARAMS.replace('"${out}/{stem}.jpg"', '"out/{stem}.jpg", format: "${fmt}"').replace(
        "params: {", "params: {fmt: jpeg, ")
    res = validate(flow, tmp_path, text, "-p", "fmt=no")
    out = said(res).splitlines()
    assert out[0].endswith("(fmt=no given with -p)")
    assert out[-1] == ("    hint: -p reads the value as YAML: for the text, quote it: "
                       """-p 'fmt="no"'""")


def test_output_path_from_p_says_it_came_from_p(flow, tmp_path):
    res = validate(flow, tmp_path, PARAMS, "-p", "out=/elsewhere")
    assert said(res).splitlines()[0] == (
        "wf.yaml:15:16: error: steps[1].with.to: output path escapes the working directory: "
        "'/elsewhere/{stem}.jpg' (out=/elsewhere given with -p)")


def test_p_value_used_through_another_param(flow, tmp_path):
    text = PARAMS.replace("params: {size: 64, out: build}",
                          'params: {size: 64, out: build, thumbs: "${out}/t"}').replace(
        '"${out}/{stem}.jpg"', '"${thumbs}/{stem}.jpg"')
    res = validate(flow, tmp_path, text, "-p", "out=/elsewhere")
    assert said(res).splitlines()[0].endswith("(out=/elsewhere given with -p)")


def test_same_bad_value_in_the_file_does_not_mention_p(flow, tmp_path):
    res = validate(flow, tmp_path, PARAMS.replace("size: 64", "size: abc"))
    assert said(res).splitlines()[0] == (
        "wf.yaml:12:14: error: steps[0].with.width: expected an integer, got 'abc'")
