"""The project's error for bad input: the ground floor, imported by every module that checks input."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad run parameter (or input file). The message is one line: the parameter, its value, what
    is allowed."""

    def _render_traceback_(self) -> list[str]:
        """IPython (and so papermill) shows this one line instead of a traceback."""
        return [f"ConfigError: {self}"]
