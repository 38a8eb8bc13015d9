"""The public API: load a workflow, plan it, run it.

``cli.py`` is a thin shell over these names; tests and other programs can call
them directly. Nothing here prints or exits. The work is done in the wings:
``compile`` (YAML to a Workflow), ``run`` (prepare and run), ``execute`` and
``report``.
"""

from __future__ import annotations

from runner.compile.build import load_workflow
from runner.plan import plan
from runner.run.orchestrate import RunOptions, pool_size, run, usable_cpus
from runner.run.prepare import Prepared, prepare
from runner.run.reaper import claim as claim_processes
from runner.run.reaper import release as release_processes
from runner.run.warm import warm_up

__all__ = ["Prepared", "RunOptions", "claim_processes", "load_workflow", "plan", "pool_size",
           "prepare", "release_processes", "run", "usable_cpus", "warm_up"]
