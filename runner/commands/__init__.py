"""What the ``flow`` commands do beyond running a workflow: telling the user something
(``flow steps``, ``flow init``, ``flow docs``), the plan of a run, explanations, signals.

Each module returns text or an exit code (``add_parser``/``run`` where it is a command
of its own), so ``runner.cli`` only dispatches; only ``runner.cli`` prints or exits.
Their top levels import nothing heavy.
"""
