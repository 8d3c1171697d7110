"""Ways to forget less besides SDFT, as operations on a fine-tuned LoRA run (issue #16's methods).

- **WiSE-FT** (Wortsman et al. 2022): interpolate between the seed and the fine-tuned model. For a
  LoRA run the fine-tuned weights are ``W0 + s * B @ A``, so the interpolation at ``alpha`` is the
  adapter with its scale ``s`` multiplied by ``alpha``: ``alpha = 0`` is the seed, ``1`` the run.
- **LiNeS** (Wang et al. 2025): scale each layer's update linearly with its depth,
  ``lambda(l) = alpha + beta * l / (L - 1)`` for layers ``l = 0 .. L-1``: the shallow layers, which
  hold general features, keep least of the update.
- **Replay** of the seed's own answers: mix the seed's answers to prompts of other skills into the
  task data at a given ratio (``replay_mix``).

These act on a loaded PEFT model (scales, not weights, change: nothing is retrained or saved) or on
training records. The chapter that puts them on one frontier with SFT and SDFT is not written yet.
"""

from __future__ import annotations

import random
import re
from typing import Callable, Sequence

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def lora_modules(model) -> list[tuple[str, object]]:
    """``(name, module)`` of every LoRA layer of a PEFT model (modules with a per-adapter ``scaling``)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(getattr(m, "scaling", None), dict)
            and hasattr(m, "lora_A")]


def scale_adapter(model, scale: float | Callable[[str], float]) -> None:
    """Set every LoRA layer's scale to its trained scale times ``scale`` (a number, or a function of
    the module's name). Calls do not compound: each starts from the trained scale."""
    modules = lora_modules(model)
    if not modules:
        raise ValueError("the model has no LoRA layers: load a LoRA run without merging it")
    for name, module in modules:
        base = module.__dict__.setdefault("_sdft_trained_scaling", dict(module.scaling))
        factor = scale(name) if callable(scale) else scale
        for adapter, s in base.items():
            module.scaling[adapter] = s * factor


def wise_ft(model, alpha: float) -> None:
    """WiSE-FT at ``alpha`` (0: the seed, 1: the fine-tuned run) for a LoRA run, in place."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha} is not allowed: it must be in [0, 1]")
    scale_adapter(model, alpha)


def layer_index(name: str) -> int | None:
    """The decoder layer a module belongs to (``...layers.3.self_attn.q_proj`` -> 3), else None."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def lines_scales(n_layers: int, alpha: float, beta: float) -> list[float]:
    """LiNeS's per-layer scales: ``alpha + beta * l / (n_layers - 1)``, shallowest layer first."""
    if n_layers < 1:
        raise ValueError(f"n_layers={n_layers} is not allowed: it must be >= 1")
    if n_layers == 1:
        return [alpha + beta]
    return [alpha + beta * l / (n_layers - 1) for l in range(n_layers)]


def lines(model, alpha: float, beta: float, n_layers: int | None = None) -> list[float]:
    """Apply LiNeS to a LoRA run in place; return the scales. A LoRA module outside the decoder
    layers (none with the book's targets) keeps the deepest layer's scale."""
    n = n_layers or model.config.num_hidden_layers
    scales = lines_scales(n, alpha, beta)
    scale_adapter(model, lambda name: scales[i] if (i := layer_index(name)) is not None else scales[-1])
    return scales


def replay_mix(task: Sequence[dict], replay: Sequence[dict], ratio: float, seed: int = 0) -> list[dict]:
    """The task records plus ``round(ratio * len(task))`` replay records (drawn without replacement
    while there are enough, then again), shuffled with ``seed``. ``ratio = 0`` is the task alone."""
    if ratio < 0:
        raise ValueError(f"ratio={ratio} is not allowed: it must be >= 0")
    k = round(ratio * len(task))
    if k and not replay:
        raise ValueError("replay_mix needs replay records for a ratio above 0")
    rng = random.Random(seed)
    picked: list[dict] = []
    while len(picked) < k:
        pool = list(replay)
        rng.shuffle(pool)
        picked += pool[:k - len(picked)]
    mixed = list(task) + picked
    rng.shuffle(mixed)
    return mixed


__all__ = ["layer_index", "lines", "lines_scales", "lora_modules", "replay_mix", "scale_adapter", "wise_ft"]
