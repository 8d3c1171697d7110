"""Running model-written code (HumanEval-style pass@1), only when the user opts in.

Generated code is untrusted. It never runs in the notebook's own process: each program runs in a
fresh ``python -I`` subprocess, in an empty temporary folder, with a wall-clock time limit, CPU and
memory limits, a minimal environment, and no network (a new network namespace where the system
allows one, and in every case a ``socket`` module that refuses to connect). This is a guard against
accidents, not a security boundary against a hostile author: run untrusted code in a container.

Nothing runs unless ``allow=True`` (the run parameter ``allow_code_execution``).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Sequence

from .errors import ConfigError

# Prepended to every program: no sockets at all, whatever the namespace situation.
_PRELUDE = """\
import socket as _s
def _no_network(*a, **k):
    raise OSError("network access is disabled for generated code")
_s.socket = _no_network
_s.create_connection = _no_network
_s.getaddrinfo = _no_network
del _s
"""


class CodeExecutionNotAllowed(ConfigError):
    """Raised when code would run without the user's opt-in."""


def require_opt_in(allow: bool) -> None:
    if allow is not True:
        raise CodeExecutionNotAllowed(
            "allow_code_execution=False does not allow running model-written code: pass "
            "-p allow_code_execution true to run it (in a time-limited subprocess with no network)")


@functools.lru_cache(maxsize=1)
def _netns_prefix() -> tuple[str, ...]:
    """``unshare`` arguments that give the child an empty network namespace, if this system allows."""
    exe = shutil.which("unshare")
    if not exe:
        return ()
    for args in ((exe, "-n"), (exe, "-rn")):
        try:
            if subprocess.run([*args, "true"], capture_output=True, timeout=10).returncode == 0:
                return args
        except (OSError, subprocess.SubprocessError):
            pass
    return ()


def _limits(memory_mb: int, cpu_seconds: int):
    def apply() -> None:  # runs in the child, before Python starts
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
        os.setsid()
    return apply


def run_program(code: str, *, allow: bool, timeout: float = 10.0, memory_mb: int = 1024) -> dict:
    """Run ``code`` in a sandboxed subprocess; ``{"status": passed|failed|timeout, "detail": ...}``.

    ``passed`` means the program exited with status 0 (HumanEval's tests are assertions).
    """
    require_opt_in(allow)
    with tempfile.TemporaryDirectory(prefix="sdft-exec-") as tmp:
        cmd = [*_netns_prefix(), sys.executable, "-I", "-c", _PRELUDE + code]
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout,
                                  preexec_fn=_limits(memory_mb, int(timeout) + 1), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "detail": f"killed after {timeout:g} s"}
    if proc.returncode == 0:
        return {"status": "passed", "detail": ""}
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    return {"status": "failed", "detail": tail[-1] if tail else f"exit status {proc.returncode}"}


def extract_code(response: str) -> str:
    """The code in a model's answer: its first fenced block, else the whole text."""
    m = re.search(r"```(?:python|py)?\n(.*?)```", response, flags=re.S)
    return m.group(1) if m else response


def humaneval_program(problem: dict, completion: str) -> str:
    """A HumanEval problem (``prompt``, ``test``, ``entry_point``) with a model's completion.

    A completion that defines the entry point itself is used as is; otherwise it continues the
    prompt's function header (HumanEval's original convention).
    """
    code = extract_code(completion)
    body = code if re.search(rf"def\s+{re.escape(problem['entry_point'])}\s*\(", code) else problem["prompt"] + code
    return f"{body}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def pass_at_1(problems: Sequence[dict], completions: Sequence[str], *, allow: bool,
              timeout: float = 10.0) -> tuple[float, list[dict]]:
    """pass@1 (0-100) of one greedy completion per problem, and each problem's verdict."""
    require_opt_in(allow)
    rows = []
    for p, c in zip(problems, completions):
        r = run_program(humaneval_program(p, c), allow=allow, timeout=timeout)
        rows.append({"task_id": p.get("task_id", ""), **r})
    score = 100.0 * sum(r["status"] == "passed" for r in rows) / len(rows) if rows else 0.0
    return score, rows
