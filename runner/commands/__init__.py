"""What the ``flow`` commands do beyond running: the plan of a run, explanations, signals.

Each returns text or an exit code; only ``runner.cli`` prints or exits.
"""
