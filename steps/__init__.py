"""flow's step library: plain functions declared with ``@step``.

Steps know nothing of pools, screens or YAML; see :mod:`steps.registry`.
"""

from steps.registry import Fold, StepDef, StepNotice, step

__all__ = ["Fold", "StepDef", "StepNotice", "step"]
