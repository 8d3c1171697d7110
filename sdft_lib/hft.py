"""Half Fine-Tuning (HFT; Hui et al. 2024, arXiv 2404.18466): full fine-tuning of half of the model's
weights, the other half frozen at the seed's values.

The paper selects at the level of categories of weights within each transformer layer, not element by
element. This project's reading, for a Llama-shaped model: in every layer, two of the attention's four
projections (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``) and, of the feed-forward's three
(``gate_proj``, ``up_proj``, ``down_proj``), two in half of the layers and one in the others, so that
half of the layers' matrices train. The embeddings, the norms and the output layer stay frozen. The
draw comes from the run's seed, so another seed trains another half. The paper draws again at each
stage of a multi-stage run; a run here has one stage.
"""

from __future__ import annotations

import random
import re

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
FEED_FORWARD = ("gate_proj", "up_proj", "down_proj")
_WEIGHT = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.weight$")


def layer_matrices(model) -> dict[int, dict[str, str]]:
    """Every layer's attention and feed-forward weight matrices: ``{layer: {module: parameter name}}``."""
    out: dict[int, dict[str, str]] = {}
    for name, _ in model.named_parameters():
        m = _WEIGHT.search(name)
        if m and m.group(2) in ATTENTION + FEED_FORWARD:
            out.setdefault(int(m.group(1)), {})[m.group(2)] = name
    return out


def half_selection(model, seed: int) -> list[str]:
    """The names of the weights HFT trains: per layer two of the four attention projections, and two
    or one of the three feed-forward ones (two in a random half of the layers), drawn with ``seed``."""
    layers = layer_matrices(model)
    if not layers:
        raise ValueError(
            "finetune='half' needs a Llama-shaped model (layers.<i>.self_attn.q_proj ...): none found"
        )
    rng = random.Random(seed)
    order = sorted(layers)
    two_ffn = set(rng.sample(order, len(order) // 2))
    chosen = []
    for i in order:
        have = layers[i]
        attn = [m for m in ATTENTION if m in have]
        ffn = [m for m in FEED_FORWARD if m in have]
        picked = rng.sample(attn, len(attn) // 2) + rng.sample(ffn, 2 if i in two_ffn else 1)
        chosen += [have[m] for m in picked]
    return sorted(chosen)


def freeze_half(model, seed: int) -> list[str]:
    """Train only :func:`half_selection`'s weights: every other parameter stops taking gradients (the
    optimizer never sees it, so it keeps the seed's value bit for bit). Returns the trained names."""
    chosen = set(half_selection(model, seed))
    for name, p in model.named_parameters():
        p.requires_grad_(name in chosen)
    return sorted(chosen)


__all__ = ["ATTENTION", "FEED_FORWARD", "freeze_half", "half_selection", "layer_matrices"]
