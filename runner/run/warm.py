"""The fork server started first, before flow imports the rest of itself.

Workers are forked from it warm: it imports the chain runner, the step modules and
Pillow once. Started as the first thing ``flow run`` does, that import runs on
another core while flow imports its engine and reads the workflow, and is over by
the time the first task goes out (started after those imports, it was not, and the
pool's first workers waited for it). This module imports nothing heavy for that.
"""

from __future__ import annotations

from runner.execute.local import services
from steps.registry import BUILTIN_MODULES, WORKER_WARM

PRELOAD = ("runner.execute.chain", *BUILTIN_MODULES, *WORKER_WARM)  # for every local pool


def warm_up() -> None:
    """Start the local pool's fork server now (it preloads :data:`PRELOAD`)."""
    services.start_fork_server((*services.WORKER_MODULES, *PRELOAD))
