"""Merging several fine-tuned runs into one model: a uniform soup, and parameter selection.

Both start from the same seed and runs that differ only by their fine-tuning seed (the order of the
training data, and the adapter's initialisation):

- **Model soup** (Wortsman et al., 2022, "Model soups"): the uniform average of the runs' weights.
- **Parameter-selection merging** (Ju et al., EMNLP 2024, "Mitigating Training Imbalance in LLM
  Fine-Tuning via Selective Parameter Merging"): every parameter, element by element, is taken
  whole from one run, drawn with equal probability, instead of averaged. The paper merges runs
  trained on different data orders, and compares with the weighted average, which is the soup here.
  Its resampling step (a drawn value equal to the base model's is drawn again) is not built: a
  merged LoRA update changes every element of the layers it adapts, and none of the others.

The merged model is scored through the evaluation stage like any run (cached by the runs' keys and
the merge). Its cost is that of every run it merges: the merge itself is a few tensor operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

METHODS = ("soup", "select")


def soup(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform average of the state dicts, key by key (their floating-point tensors; any other
    tensor is the first state's)."""
    out = {}
    for k, first in states[0].items():
        if first.is_floating_point():
            out[k] = torch.stack([s[k].to(torch.float64) for s in states]).mean(0).to(first.dtype)
        else:
            out[k] = first.clone()
    return out


def select(states: Sequence[dict[str, torch.Tensor]], seed: int) -> dict[str, torch.Tensor]:
    """Every element of every floating-point tensor copied from one of ``states``, drawn uniformly
    and independently with ``seed`` (the same seed gives the same draw)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(states[0]):
        first = states[0][k]
        if not first.is_floating_point():
            out[k] = first.clone()
            continue
        pick = torch.randint(len(states), first.shape, generator=gen)
        out[k] = torch.gather(torch.stack([s[k] for s in states]), 0, pick.unsqueeze(0)).squeeze(0)
    return out


def _label(method: str, seed: int | None) -> str:
    return "soup" if method == "soup" else f"select-s{seed}"


def merged_scores(cfg, run_dirs: Sequence[Path], method: str, seed: int | None = None) -> dict:
    """Scores of the runs ``run_dirs`` merged by ``method`` (``"soup"``, or ``"select"`` with the
    draw's ``seed``), on the run's benchmarks; cached like any evaluation."""
    from .evaluation import evaluate_model
    from .runs import read_json
    from .training import load_finetuned

    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed: choose {' or '.join(METHODS)}")
    if method == "select" and seed is None:
        raise ValueError("method='select' needs the seed of its draw")
    runs = [Path(r) for r in run_dirs]

    def load():
        models = [load_finetuned(cfg, r, merge=True) for r in runs]
        model, tok = models[0]
        states = [m.state_dict() for m, _ in models]
        model.load_state_dict(soup(states) if method == "soup" else select(states, seed))
        return model.eval(), tok

    key = {
        "runs": [[r.name, read_json(r / "manifest.json")["key_hash"]] for r in runs],
        "merge": {"method": method, "seed": seed if method == "select" else None},
    }
    name = f"merged-{runs[0].name.split('-')[0]}-{len(runs)}runs-{_label(method, seed)}"
    return evaluate_model(cfg, name, key, load)


def merged_cost(costs: Sequence[dict]) -> dict:
    """A merged model's cost: every merged run's training (seconds and tokens added up), their data
    made once."""
    return {
        "train_seconds": sum(c["train_seconds"] for c in costs),
        "tokens_trained": sum(c["tokens_trained"] for c in costs),
        "tokens_generated": max(c.get("tokens_generated", 0) for c in costs),
        "data_seconds": max(c.get("data_seconds", 0.0) for c in costs),
    }


__all__ = ["METHODS", "merged_cost", "merged_scores", "select", "soup"]
