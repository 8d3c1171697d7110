"""Model-written code in the bubblewrap sandbox: each escape a hostile program would try, held.

Every escape test has a control where it makes sense: the same program run without the sandbox
(``unsandboxed=True`` with the sandbox switched off) does escape, so the test can fail.
``make test`` installs bubblewrap and sets SDFT_REQUIRE_SANDBOX=1: a missing sandbox fails there
instead of skipping.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from sdft_lib import code_exec
from sdft_lib.code_exec import CodeExecutionNotAllowed, run_program
from sdft_lib.config import ConfigError

PROBLEM = code_exec.sandbox_problem()
if PROBLEM and os.environ.get("SDFT_REQUIRE_SANDBOX"):
    raise RuntimeError(f"SDFT_REQUIRE_SANDBOX is set but {PROBLEM}")
sandboxed = pytest.mark.skipif(PROBLEM is not None, reason=f"no sandbox here: {PROBLEM}")


def run(code, **kw):
    return run_program(code, allow=True, **kw)


def unsandboxed(monkeypatch, code, **kw):
    """The control: the same program with the sandbox switched off (the explicit second opt-in)."""
    monkeypatch.setattr(code_exec, "sandbox_problem", lambda: "switched off by the test")
    return run_program(code, allow=True, unsandboxed=True, **kw)


def survivors(marker: str, wait: float = 3.0) -> list[str]:
    """Processes whose command line holds ``marker``, after giving the kernel ``wait`` s to reap."""
    deadline = time.time() + wait
    while True:
        found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
        found = [p for p in found if int(p) != os.getpid()]
        if not found or time.time() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def server():
    """A TCP server on the host's loopback; yields (port, whether anybody connected)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.5)

    def connected() -> bool:
        try:
            conn, _ = srv.accept()
            conn.close()
            return True
        except TimeoutError:
            return False

    yield srv.getsockname()[1], connected
    srv.close()


# ---------------------------------------------------------------------------------------------
# no sandbox: refused unless the user names the risk
# ---------------------------------------------------------------------------------------------
def test_without_a_sandbox_running_is_refused_unless_explicitly_allowed(monkeypatch):
    monkeypatch.setattr(code_exec, "sandbox_problem", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(CodeExecutionNotAllowed) as err:
        run("print(1)")
    msg = str(err.value)
    assert "\n" not in msg and "allow_unsandboxed_code_execution" in msg and "bubblewrap" in msg
    assert "read and change your files" in msg
    r = run("print(1)", unsandboxed=True)
    assert r == {"status": "passed", "detail": "", "sandbox": "unsandboxed"}
    with pytest.raises(CodeExecutionNotAllowed, match="allow_code_execution"):
        run_program("print(1)", allow=False, unsandboxed=True)  # the second opt-in never replaces the first


def test_the_run_parameters_are_checked_before_any_work(tmp_path, monkeypatch, standin_dir):
    from sdft_lib.config import load_config
    from sdft_lib.runtime import setup

    problems = tmp_path / "HumanEval.jsonl"
    problems.write_text(
        '{"task_id": "t/0", "prompt": "def f():\\n", "test": "def check(f): pass", "entry_point": "f"}\n'
    )
    common = dict(
        model=str(standin_dir),
        eval_benchmarks="humaneval",
        humaneval_file=str(problems),
        allow_code_execution=True,
        dataset="alpaca",
        data_dir="tests/fixtures/paper-data",
    )
    with pytest.raises(ConfigError, match="allow_unsandboxed_code_execution=True is not allowed"):
        load_config(
            "paper/alpaca", **{**common, "allow_code_execution": False}, allow_unsandboxed_code_execution=True
        )
    monkeypatch.setattr(code_exec, "sandbox_problem", lambda: "bubblewrap (bwrap) is not installed")
    cfg = load_config("paper/alpaca", **common)
    with pytest.raises(CodeExecutionNotAllowed, match="allow_unsandboxed_code_execution"):
        setup(cfg)
    assert not (tmp_path / "runs").exists()  # refused before anything was written
    assert (
        setup(load_config("paper/alpaca", **common, allow_unsandboxed_code_execution=True))["code_execution"]
        == "unsandboxed"
    )


# ---------------------------------------------------------------------------------------------
# the escapes
# ---------------------------------------------------------------------------------------------
@sandboxed
def test_a_plain_program_runs_and_reports(tmp_path):
    assert run("assert 1 + 1 == 2") == {"status": "passed", "detail": "", "sandbox": "bwrap"}
    bad = run("assert 1 + 1 == 3")
    assert bad["status"] == "failed" and "AssertionError" in bad["detail"]
    assert run("while True: pass", timeout=1)["status"] == "timeout"
    # its working folder is empty and writable, and it is the only one
    assert run("import os\nassert os.listdir('.') == []\nopen('x', 'w').write('ok')")["status"] == "passed"


ESCAPE_SOCKET = "import _socket\ns = _socket.socket()\ns.settimeout(3)\ns.connect(('127.0.0.1', {port}))\n"
ESCAPE_RELOAD = (
    "import importlib, socket\nimportlib.reload(socket)\n"
    "socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
)


@sandboxed
@pytest.mark.parametrize("program", [ESCAPE_SOCKET, ESCAPE_RELOAD], ids=["_socket", "reload"])
def test_no_network(server, monkeypatch, program):
    port, connected = server
    r = run(program.format(port=port))
    assert r["status"] == "failed" and not connected()
    assert "refused" in r["detail"].lower() or "unreachable" in r["detail"].lower()
    assert (
        unsandboxed(monkeypatch, program.format(port=port))["status"] == "passed" and connected()
    )  # control


@sandboxed
def test_no_writing_outside_its_folder(tmp_path, monkeypatch):
    target = tmp_path / "escaped.txt"
    program = f"open({str(target)!r}, 'w').write('out')\n"
    r = run(program)
    assert r["status"] == "failed" and not target.exists()
    r = run("open('/usr/escaped.txt', 'w').write('out')\n")  # the system is read-only
    assert r["status"] == "failed" and "Read-only file system" in r["detail"]
    assert not Path("/usr/escaped.txt").exists()
    assert unsandboxed(monkeypatch, program)["status"] == "passed" and target.read_text() == "out"  # control


@sandboxed
def test_no_reading_the_users_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    secret = f"hf_{uuid.uuid4().hex}"
    (home / ".cache" / "huggingface" / "token").write_text(secret)
    monkeypatch.setenv("HOME", str(home))
    program = (
        f"import os\nprint(open(os.path.join({str(home)!r}, '.cache/huggingface/token')).read())\n"
        "raise SystemExit(1)\n"
    )
    r = run(program)
    assert r["status"] == "failed" and secret not in r["detail"] and "No such file" in r["detail"]
    # the real home holds at most the Python installation the sandbox runs
    real_home = os.path.expanduser("~root") if os.geteuid() == 0 else str(Path.home())
    listing = run(f"import os\nprint(sorted(os.listdir({real_home!r})))\nraise SystemExit(1)\n")["detail"]
    visible = set(eval(listing)) if listing.startswith("[") else set()
    python_parts = (
        set(Path(sys.base_prefix).relative_to(real_home).parts[:1])
        if sys.base_prefix.startswith(real_home + os.sep)
        else set()
    )
    assert visible <= python_parts
    assert secret in unsandboxed(monkeypatch, program)["detail"]  # control


@sandboxed
def test_a_fork_bomb_is_held(tmp_path):
    marker = f"bomb{uuid.uuid4().hex[:8]}"
    counted = run(
        f"# {marker}\nimport os, sys, time\nkids = 0\nfor _ in range(1000):\n"
        "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    kids += 1\n"
        "print('forked', kids)\nsys.exit(1)\n",
        max_processes=16,
    )
    kids = int(counted["detail"].split()[-1])
    assert 0 < kids <= 16
    t0 = time.time()
    r = run(
        f"# {marker}\nimport os\nwhile True:\n"
        "    try:\n        os.fork()\n    except OSError:\n        pass\n",
        timeout=3,
    )
    assert r["status"] == "timeout" and time.time() - t0 < 15
    assert survivors(marker) == []


@sandboxed
@pytest.mark.parametrize("how", ["program-waits", "program-exits"])
def test_no_child_outlives_the_program(monkeypatch, how):
    marker = f"orphan{uuid.uuid4().hex[:8]}"
    program = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # {marker}'], "
        "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "time.sleep(0.5)\n" + ("time.sleep(60)\n" if how == "program-waits" else "")
    )
    r = run(program, timeout=3)
    assert r["status"] == ("timeout" if how == "program-waits" else "passed")
    assert survivors(marker) == []
    if how == "program-exits":  # control: without the sandbox the daemon lives on
        assert unsandboxed(monkeypatch, program, timeout=3)["status"] == "passed"
        alive = survivors(marker, wait=0)
        assert alive
        subprocess.run(["kill", "-9", *alive])


@sandboxed
def test_filling_the_disk_is_held(tmp_path):
    free = os.statvfs(tmp_path).f_bavail
    r = run(
        "total = 0\ntry:\n    for i in range(1000):\n        with open(f'f{i}', 'wb') as f:\n"
        "            f.write(b'x' * (1 << 20))\n        total += 1\nfinally:\n    print('wrote', total)\n",
        disk_mb=8,
    )
    assert r["status"] == "failed" and "No space left" in r["detail"]
    one = run("with open('big', 'wb') as f:\n    f.write(b'x' * (64 << 20))\n", disk_mb=128)
    assert one["status"] == "failed"  # one file is capped at 16 MB (RLIMIT_FSIZE)
    assert abs(os.statvfs(tmp_path).f_bavail - free) * os.statvfs(tmp_path).f_frsize < (64 << 20)


@sandboxed
def test_memory_and_cpu_are_limited():
    r = run("x = bytearray(4 << 30)\n", memory_mb=512)
    assert r["status"] == "failed" and "MemoryError" in r["detail"]
    r = run(
        "import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU)[0])\nraise SystemExit(1)\n", timeout=5
    )
    assert r["detail"] == "6"
