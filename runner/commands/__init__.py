"""Commands whose work is telling the user something: ``flow steps``, ``flow init``, ``flow docs``.

Each module offers ``add_parser(subparsers)`` and ``run(args) -> exit code``, so
``runner.cli`` only dispatches to them. Their top levels import nothing heavy.
"""
