"""flow: a declarative workflow runner for batch work on every CPU core."""

__version__ = "0.1.0"
