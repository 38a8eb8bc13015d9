"""flow: a declarative workflow runner for batch work on every CPU core."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# ``python -m runner``, and the fork server (started as ``python -c``), put the current
# folder first on sys.path, so a steps.py or yaml.py there (beside a workflow, say) would
# hide flow's own packages, in flow and in every worker. It stays importable, after them.
if _sys.path and _sys.path[0] in ("", _os.getcwd()):
    _sys.path.append(_sys.path.pop(0))
