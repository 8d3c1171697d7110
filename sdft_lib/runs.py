"""Run directories, atomic writes, manifests, and stages that are built once and then reused.

Layout: ``runs/<profile>/<stage>/<artifact>/`` with a ``manifest.json`` in every artifact. An
artifact is built in a hidden ``.<name>.partial`` folder beside its final place and renamed into
place only when complete, so a reader never sees half an artifact; a build that was interrupted
finds its partial folder again and may resume from what is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from .config import PROJECT_ROOT, ConfigError, RunConfig
from .report import say

MANIFEST = "manifest.json"
PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "lm_eval",
    "vllm",
    "papermill",
    "numpy",
    "sdft-book",
)


_ANNOUNCED: set[str] = set()


class StaleArtifactError(RuntimeError):
    """An artifact exists at the target path but was built from different inputs."""


# ----------------------------------------------------------------------------------------
# atomic writes
# ----------------------------------------------------------------------------------------
@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success rename it over ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------
# hashing and provenance
# ----------------------------------------------------------------------------------------
def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def key_hash(key: Mapping[str, Any], length: int = 10) -> str:
    """A short stable hash of a JSON-able mapping (sorted keys)."""
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("-dirty" if dirty else "")) if sha else None


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return info


def manifest(
    cfg: RunConfig | None,
    stage: str,
    key: Mapping[str, Any],
    inputs: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "stage": stage,
        "key": dict(key),
        "key_hash": key_hash({"key": key, "inputs": inputs}),
        "params": cfg.to_dict() if cfg is not None else None,
        "seed": cfg.seed if cfg is not None else None,
        "inputs": dict(inputs),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "hardware": hardware(),
        "argv": sys.argv[:1],
        **(dict(extra) if extra else {}),
    }


# ----------------------------------------------------------------------------------------
# artifacts: build once, reuse afterwards
# ----------------------------------------------------------------------------------------
def guard_user_data(path: Path, cfg: RunConfig | None) -> None:
    if cfg is None or not cfg.data_dir:
        return
    data = Path(cfg.data_dir).expanduser().resolve()
    target = path.resolve()
    if target == data or data in target.parents:
        raise ConfigError(
            f"run_dir={str(cfg.run_path)!r} is not allowed: it lies inside data_dir, "
            "which is never written; choose another run_dir"
        )


def display_path(path: str | os.PathLike) -> str:
    """A path as a reader should see it: relative to the working directory when it lies below it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def is_complete(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def distributed():
    """accelerate's process state when this is one process of several (``accelerate launch``), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    # accelerate's shared state is made once per process: say "CPU" here as the Trainer will
    # (use_cpu), or the processes would not join one gloo group
    cpu = not torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in (
        "1",
        "true",
        "yes",
    )
    return PartialState(cpu=cpu)


def build_once(
    path: str | os.PathLike,
    key: Mapping[str, Any],
    build: Callable[[Path], Mapping | None],
    *,
    stage: str,
    cfg: RunConfig | None = None,
    inputs: Mapping[str, str | os.PathLike] | None = None,
    collective: bool = False,
) -> Path:
    """Return ``path`` holding the artifact for ``key``, building it only if it is not there.

    ``build(work_dir)`` writes the artifact's files into ``work_dir`` and may return extra
    manifest fields (metrics, timings). ``inputs`` are files whose SHA-256 joins the key.
    If ``path`` holds an artifact built from another key, :class:`StaleArtifactError` is raised
    rather than overwriting it.

    ``collective``: under ``accelerate launch`` every process calls this and every process runs
    ``build`` (distributed training needs them all), but only the main process takes the lock,
    prepares the work folder, and writes the manifest; ``build`` itself must write on the main
    process only.
    """
    path = Path(path)
    guard_user_data(path, cfg)
    input_hashes = {name: file_sha256(p) for name, p in (inputs or {}).items()}
    want = key_hash({"key": key, "inputs": input_hashes})
    found = _finished(path, want, stage)
    if found is not None:
        return found
    state = distributed() if collective else None
    if state is not None:
        return _build_together(state, path, want, key, build, stage, cfg, input_hashes)
    # One builder per artifact: a second process (make -j, two notebooks, every rank of accelerate)
    # waits here, then finds the artifact finished. The operating system releases the lock when its
    # holder exits, crashed or not; a crashed build's partial folder is picked up again below.
    with _artifact_lock(path, stage):
        found = _finished(path, want, stage)
        if found is not None:
            return found
        return _build(path, want, key, build, stage, cfg, input_hashes)


def _finished(path: Path, want: str, stage: str) -> Path | None:
    """``path`` if it holds the finished artifact for ``want``; None if there is none; an error if
    it holds something else."""
    if is_complete(path):
        have = read_json(path / MANIFEST).get("key_hash")
        if have == want:
            if str(path) not in _ANNOUNCED:  # say it once per artifact, not at every lookup
                _ANNOUNCED.add(str(path))
                say(f"reusing {stage}: {display_path(path)}")
            return path
        raise StaleArtifactError(
            f"{path} was built with other parameters (key {have}, now {want}); pass a new run_dir, "
            f"or delete that folder to rebuild it"
        )
    if path.exists():
        raise StaleArtifactError(
            f"{path} exists but is not a finished {stage} artifact (no {MANIFEST}); "
            "it is left untouched: move it away or pass a new run_dir"
        )
    return None


@contextmanager
def _artifact_lock(path: Path, stage: str):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another process building {stage}: {display_path(path)}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(path: Path, want: str) -> Path:
    """The artifact's work folder, emptied if it holds another build's leftovers, stamped with ``want``."""
    work = path.parent / f".{path.name}.partial"
    work.mkdir(parents=True, exist_ok=True)
    stamp = work / ".key"
    if stamp.is_file() and stamp.read_text().strip() != want:  # leftovers of another build
        shutil.rmtree(work)
        work.mkdir(parents=True)
    stamp.write_text(want)
    return work


def _finish(
    path: Path,
    work: Path,
    key: Mapping[str, Any],
    stage: str,
    cfg: RunConfig | None,
    input_hashes: dict,
    extra: dict,
) -> Path:
    extra.setdefault("finished", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    (work / ".key").unlink()
    write_json(work / MANIFEST, manifest(cfg, stage, key, input_hashes, extra))
    os.replace(work, path)
    return path


def _build(
    path: Path,
    want: str,
    key: Mapping[str, Any],
    build: Callable[[Path], Mapping | None],
    stage: str,
    cfg: RunConfig | None,
    input_hashes: dict,
) -> Path:
    work = _prepare(path, want)
    say(f"building {stage}: {display_path(path)}")
    t0 = time.time()
    extra = dict(build(work) or {})
    extra.setdefault("seconds", round(time.time() - t0, 2))
    return _finish(path, work, key, stage, cfg, input_hashes, extra)


def _build_together(
    state,
    path: Path,
    want: str,
    key: Mapping[str, Any],
    build: Callable[[Path], Mapping | None],
    stage: str,
    cfg: RunConfig | None,
    input_hashes: dict,
) -> Path:
    """:func:`build_once` for every process of a distributed job at once (see ``collective``)."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        if state.is_main_process:  # other jobs building this artifact wait for this one
            stack.enter_context(_artifact_lock(path, stage))
            if _finished(path, want, stage) is None:
                _prepare(path, want)
                say(f"building {stage} on {state.num_processes} processes: {display_path(path)}")
        state.wait_for_everyone()
        if is_complete(path):  # another job finished it while the main process waited for the lock
            return _finished(path, want, stage)
        work = path.parent / f".{path.name}.partial"
        t0 = time.time()
        extra = dict(build(work) or {})
        extra.setdefault("seconds", round(time.time() - t0, 2))
        state.wait_for_everyone()
        if state.is_main_process:
            _finish(path, work, key, stage, cfg, input_hashes, {**extra, "processes": state.num_processes})
    state.wait_for_everyone()
    return path
