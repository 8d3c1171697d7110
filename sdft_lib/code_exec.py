"""Running model-written code (HumanEval-style pass@1), only when the user opts in.

Generated code is untrusted, and it runs in a **bubblewrap sandbox** (Debian's ``bubblewrap``;
``make sandbox`` installs it):

- a root file system that holds only ``/usr`` (read-only) and the Python installation (read-only):
  no home folder, no project, no ``/tmp``, no ``/etc``;
- one writable folder, an empty in-memory file system of ``disk_mb`` megabytes, which is the
  program's working directory and vanishes with it;
- new network, PID, IPC and UTS namespaces (no network at all: not even the host's loopback);
- limits on address space (``memory_mb``), CPU seconds, the size of one file and the number of
  processes; when run as root the program drops to the ``nobody`` user first, because the kernel
  never limits root's process count;
- a session of its own: at the timeout the whole process group is killed, and the PID namespace's
  first process takes every process of the sandbox with it.

Nothing runs unless ``allow=True`` (the run parameter ``allow_code_execution``). Where bubblewrap is
missing or cannot make namespaces (some containers), running is refused, unless the user also passes
``unsandboxed=True`` (``allow_unsandboxed_code_execution``), which runs the program as a plain
subprocess with the same resource limits: it can then read and write the user's files and reach the
network.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError

NOBODY = 65534
SANDBOX_DIR = "/sandbox"
# Runs first inside the sandbox: drop root (whose process count the kernel never limits), then run
# the program as __main__.
_LAUNCHER = """\
import os, sys
if os.getuid() == 0:
    os.setgroups([]); os.setgid({uid}); os.setuid({uid})
code = sys.argv.pop(1)
exec(compile(code, "<program>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
""".replace("{uid}", str(NOBODY))


class CodeExecutionNotAllowed(ConfigError):
    """Raised when code would run without the user's opt-in, or without a sandbox."""


def require_opt_in(allow: bool) -> None:
    if allow is not True:
        raise CodeExecutionNotAllowed(
            "allow_code_execution=False does not allow running model-written code: pass "
            "-p allow_code_execution true to run it (in a bubblewrap sandbox: no network, no files of yours)"
        )


def _python() -> tuple[str, str]:
    """The real interpreter (not a virtual environment's link to it) and its installation folder."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable), sys.base_prefix


def _bwrap_args(disk_mb: int) -> list[str]:
    exe, prefix = _python()
    args = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "HOME",
        SANDBOX_DIR,
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for link in ("bin", "lib", "lib32", "lib64", "sbin"):  # merged-/usr systems: links; otherwise folders
        p = Path("/") / link
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{link}"]
        elif p.is_dir():
            args += ["--ro-bind", str(p), f"/{link}"]
    if not (prefix == "/usr" or prefix.startswith("/usr/")):
        for parent in reversed(Path(prefix).parents[:-1]):  # e.g. /root of ~/.pyenv: traversable, empty
            args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", prefix, prefix]
    if not exe.startswith(prefix + os.sep) and not exe.startswith("/usr/"):
        args += ["--ro-bind", exe, exe]
    if os.geteuid() != 0:
        args += ["--unshare-user"]  # an unprivileged user needs a user namespace to mount
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(disk_mb << 20),
        "--tmpfs",
        SANDBOX_DIR,
        "--chmod",
        "1777",
        SANDBOX_DIR,
        "--chdir",
        SANDBOX_DIR,
        exe,
        "-I",
        "-c",
        _LAUNCHER,
    ]
    return args


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None when the bubblewrap sandbox works here; otherwise why not (one line)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        proc = subprocess.run(
            _bwrap_args(16) + ["pass"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not start ({exc})"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return f"bwrap cannot make a sandbox here ({tail[-1] if tail else proc.returncode})"
    return None


def check_sandbox(allow: bool, unsandboxed: bool = False) -> str:
    """``"bwrap"`` or ``"unsandboxed"``: how model-written code will run; a one-line error if it may not."""
    require_opt_in(allow)
    problem = sandbox_problem()
    if problem is None:
        return "bwrap"
    if unsandboxed is True:
        return "unsandboxed"
    raise CodeExecutionNotAllowed(
        f"allow_code_execution=True needs a sandbox and {problem}: install bubblewrap (make sandbox, or "
        "apt-get install bubblewrap), or pass -p allow_unsandboxed_code_execution true to run model-written "
        "code without one, with your own user's rights "
        "(it can read and change your files and use the network)"
    )


def _tasks_of(uid: int) -> int:
    """How many processes and threads ``uid`` has now (the count RLIMIT_NPROC is checked against)."""
    n = 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if d.stat().st_uid == uid:
                    n += sum(1 for _ in (d / "task").iterdir())
            except OSError:
                pass
    return n


def _limits(memory_mb: int, cpu_seconds: int, file_mb: int, procs: int):
    def apply() -> None:  # runs in the child before it becomes bwrap (or python)
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
        resource.setrlimit(resource.RLIMIT_NPROC, (procs, procs))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_program(
    code: str,
    *,
    allow: bool,
    unsandboxed: bool = False,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    disk_mb: int = 32,
    max_processes: int = 16,
) -> dict:
    """Run ``code`` in the sandbox; ``{"status": passed|failed|timeout, "detail": ..., "sandbox": ...}``.

    ``passed`` means the program exited with status 0 (HumanEval's tests are assertions).
    ``max_processes`` is how many processes and threads the program may have, itself included.
    """
    how = check_sandbox(allow, unsandboxed)
    runner_uid = NOBODY if os.geteuid() == 0 and how == "bwrap" else os.geteuid()
    # RLIMIT_NPROC counts all of the runner's processes and threads: those it has now, the program's
    # allowance, and (unless the program runs as nobody, under root's bwrap) bwrap and its init
    procs = _tasks_of(runner_uid) + max_processes + (0 if runner_uid != os.geteuid() else 2)
    limits = _limits(memory_mb, int(timeout) + 1, min(disk_mb, 16), procs)
    if how == "bwrap":
        cmd, cwd, env, tmp = _bwrap_args(disk_mb) + [code], None, {"PATH": "/usr/bin:/bin"}, None
    else:
        import tempfile

        tmp = tempfile.TemporaryDirectory(prefix="sdft-exec-")
        cmd, cwd = [sys.executable, "-I", "-c", code], tmp.name
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp.name, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            preexec_fn=limits,  # noqa: PLW1509  (resource limits in the child; the caller is single-threaded here)
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return {"status": "timeout", "detail": f"killed after {timeout:g} s", "sandbox": how}
        finally:
            _kill_group(proc)  # nothing the program started outlives it
    finally:
        if tmp is not None:
            tmp.cleanup()
    if proc.returncode == 0:
        return {"status": "passed", "detail": "", "sandbox": how}
    tail = (err or out).strip().splitlines()
    detail = (
        tail[-1]
        if tail
        else (
            f"killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exit status {proc.returncode}"
        )
    )
    return {"status": "failed", "detail": detail, "sandbox": how}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError):
        pass


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
    body = (
        code
        if re.search(rf"def\s+{re.escape(problem['entry_point'])}\s*\(", code)
        else problem["prompt"] + code
    )
    return f"{body}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def pass_at_1(
    problems: Sequence[dict],
    completions: Sequence[str],
    *,
    allow: bool,
    unsandboxed: bool = False,
    timeout: float = 10.0,
) -> tuple[float, list[dict]]:
    """pass@1 (0-100) of one greedy completion per problem, and each problem's verdict."""
    check_sandbox(allow, unsandboxed)
    rows = []
    for p, c in zip(problems, completions):
        r = run_program(humaneval_program(p, c), allow=allow, unsandboxed=unsandboxed, timeout=timeout)
        rows.append({"task_id": p.get("task_id", ""), **r})
    score = 100.0 * sum(r["status"] == "passed" for r in rows) / len(rows) if rows else 0.0
    return score, rows
