"""``flow init [NAME] [--photos | --numbers]``: write a commented starter workflow.

NAME is the workflow's name (the file is NAME.yaml) or a path ending in .yaml;
the default is ``thumbnails`` for photos and ``squares`` for numbers. An existing
file is never overwritten. The photos starter reads ``photos/``, which is made
(empty) if missing, so the user knows where to put them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re

from runner.errors import EXIT_OK, FlowError, os_reason

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")  # the schema's rule for a workflow's name
DEFAULT = {"photos": "thumbnails", "numbers": "squares"}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Declare ``flow init``."""
    i = sub.add_parser("init", help="write a commented starter workflow")
    i.add_argument("name", nargs="?", metavar="NAME",
                   help="the workflow's name, or a path ending in .yaml")
    kind = i.add_mutually_exclusive_group()
    kind.add_argument("--photos", dest="kind", action="store_const", const="photos",
                      help="thumbnails of the photos in photos/ (the default)")
    kind.add_argument("--numbers", dest="kind", action="store_const", const="numbers",
                      help="numbers only: runs with no files at all")
    return i


def run(args: argparse.Namespace) -> int:
    """Write the starter; exit 2 if the file exists or the name cannot be a workflow's."""
    from runner.commands.starters import NUMBERS, PHOTOS, SAID

    kind = args.kind or "photos"
    given = args.name or DEFAULT[kind]
    path = given if given.endswith((".yaml", ".yml")) else given + ".yaml"
    name = os.path.splitext(os.path.basename(path))[0]
    if not _NAME.match(name):
        raise FlowError.single(
            f"'{name}' cannot be a workflow name: it must start with a lowercase letter and "
            "hold only lowercase letters, digits, '-' and '_'", file="command line",
            hint="flow init my-photos, or flow init path/to/my-photos.yaml")
    text = (PHOTOS if kind == "photos" else NUMBERS).replace("@NAME@", name)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    made = False
    try:
        with open(path, "x", encoding="utf-8") as f:  # "x": never over an existing file
            made = True
            f.write(text.replace("@FILE@", path))
    except FileExistsError:
        raise FlowError.single("already exists; flow init never overwrites a file", file=path,
                               hint="choose another name: flow init NAME") from None
    except OSError as e:
        if made:  # what it made (empty, or cut short by a full disk) goes
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise FlowError.single(f"cannot write it: {os_reason(e)}", file=path) from None
    if kind == "photos":
        os.makedirs("photos", exist_ok=True)
    what, nexts = SAID[kind]
    print(f"wrote {path}: {what}\nnext:")
    for line in nexts:
        print("  " + line.replace("@FILE@", path))
    print("  flow steps              the steps you can use; flow steps NAME shows one")
    return EXIT_OK
