"""``python -m runner`` is ``flow``."""

from runner.cli import main

raise SystemExit(main())
