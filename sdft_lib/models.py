"""Load the seed model of a run: the teaching model, or any Hugging Face causal LM.

Real models load with ``trust_remote_code=False`` and from safetensors only; bf16/fp16 is chosen
from the hardware; a gated or missing model gives a plain explanation instead of a stack of HTTP
errors.
"""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError, RunConfig
from .hardware import resolve_device, resolve_dtype


def seed_weights(cfg: RunConfig) -> str:
    """Where the seed model's weights are: the teaching model's build folder, or cfg.model."""
    if cfg.is_teaching:
        from .teaching_world.build import build_seed_model

        return str(build_seed_model(cfg))
    local = Path(cfg.model).expanduser()
    return str(local) if cfg.model.startswith("~") or local.is_dir() else cfg.model


def load_model(cfg: RunConfig, path: str | None = None):
    """Return (model, tokenizer) on the run's device, in eval mode, left-padding tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = path or seed_weights(cfg)
    device = resolve_device(cfg)
    dtype = resolve_dtype(cfg, device)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=False,
                                                     use_safetensors=True)
    except OSError as exc:
        raise ConfigError(_explain_load_error(path, exc)) from None
    _check_chat_template(cfg, tok)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model.to(device).eval(), tok


def _check_chat_template(cfg: RunConfig, tok) -> None:
    if cfg.train_template == "chat" and not getattr(tok, "chat_template", None):
        raise ConfigError(f"train_template='chat' is not allowed with model={cfg.model!r}: its tokenizer has no "
                          "chat template; give a paper template (-p train_template alpaca) or a chat model")


def check_model(cfg: RunConfig) -> None:
    """Before heavy work: the seed's tokenizer loads (safetensors-only weights are checked at load
    time) and has a chat template when ``train_template`` is ``chat``. The teaching model is built
    by the run, so there is nothing to check."""
    if cfg.is_teaching:
        return
    from transformers import AutoTokenizer

    path = seed_weights(cfg)
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except OSError as exc:
        raise ConfigError(_explain_load_error(path, exc)) from None
    _check_chat_template(cfg, tok)


def _explain_load_error(path: str, exc: Exception) -> str:
    text = str(exc)
    if Path(path).expanduser().exists():
        return f"model={path!r} could not be loaded: {text.splitlines()[0]} (only safetensors weights are loaded)"
    if "gated" in text.lower() or "401" in text or "403" in text:
        return (f"model={path!r} is gated on the Hugging Face Hub: accept its licence on the model page, "
                "then run `huggingface-cli login` (or set HF_TOKEN) and try again")
    return (f"model={path!r} is not available offline: download it once with network access "
            "(huggingface-cli download ...) or pass a local directory")
