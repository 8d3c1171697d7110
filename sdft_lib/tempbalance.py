"""TempBalance (Zhou et al. 2023; for fine-tuning, Liu et al. 2024, "Model Balancing Helps Low-data
Training and Fine-tuning"): one learning rate per weight matrix, set from the heavy tail of the
matrix's spectrum.

Heavy-tailed self-regularization reads a weight matrix ``W`` through the eigenvalues of ``WᵀW`` (its
squared singular values). Their tail follows a power law ``p(λ) ∝ λ^(-α)`` above some ``λ_min``; a
small ``α`` (a heavy tail) marks a matrix that training has shaped strongly, a large ``α`` one that is
less trained. TempBalance gives the less-trained matrices more of the learning rate: the
``α``'s are mapped linearly onto ``[low, high] × lr``, the smallest ``α`` to ``low``. The fit is the
power law's maximum-likelihood exponent ``α = 1 + n / Σ log(λ_i / λ_min)`` over the ``n`` eigenvalues
at or above ``λ_min``, with ``λ_min`` the candidate whose fit is closest to the data in
Kolmogorov-Smirnov distance (the estimator of the papers' code; ``"median"`` takes the middle
eigenvalue instead). The papers refit during training; here the ``α``'s are the seed's, fitted once.
"""

from __future__ import annotations

import math

import torch


def esd_alpha(weight: torch.Tensor, xmin: str = "ks") -> float:
    """The power-law exponent of the tail of ``weight``'s empirical spectral density (see the module)."""
    if xmin not in ("ks", "median"):
        raise ValueError(f"xmin={xmin!r} is not allowed: choose ks or median")
    eigs = torch.sort(torch.linalg.svdvals(weight.detach().double()) ** 2).values
    eigs = eigs[eigs > 1e-12]
    if len(eigs) < 3:
        raise ValueError(f"a matrix of shape {tuple(weight.shape)} has too few nonzero eigenvalues for a fit")
    logs = torch.log(eigs)
    n_all = len(eigs)

    def fit(i: int) -> tuple[float, float]:
        n = n_all - i
        alpha = 1 + n / float(logs[i:].sum() - n * logs[i])
        tail = eigs[i:]
        model_cdf = 1 - (tail / eigs[i]) ** (1 - alpha)
        empirical = torch.arange(n, dtype=torch.float64) / n
        return alpha, float((model_cdf - empirical).abs().max())

    if xmin == "median":
        return fit(n_all // 2)[0]
    best = min((fit(i) for i in range(n_all - 2)), key=lambda ad: ad[1] if ad[0] > 1 else math.inf)
    return best[0]


def lr_scales(alphas: dict[str, float], low: float = 0.5, high: float = 1.5) -> dict[str, float]:
    """Each matrix's factor on the learning rate: its ``α`` mapped linearly from ``[min α, max α]``
    onto ``[low, high]`` (the papers' linear map), so a larger ``α`` trains faster; all 1 when every
    ``α`` is the same."""
    if not 0 < low <= high:
        raise ValueError(f"low={low}, high={high} are not allowed: need 0 < low <= high")
    lo, hi = min(alphas.values()), max(alphas.values())
    if hi - lo < 1e-12:
        return dict.fromkeys(alphas, 1.0)
    return {k: low + (high - low) * (a - lo) / (hi - lo) for k, a in alphas.items()}


def module_alphas(model, xmin: str = "ks") -> dict[str, float]:
    """``α`` of every linear layer inside the transformer's layers (not the output layer), by module
    name (``model.layers.0.self_attn.q_proj``)."""
    return {
        name: esd_alpha(m.weight, xmin)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and ".layers." in f".{name}"
    }


def param_scale(name: str, scales: dict[str, float]) -> float:
    """The factor of a trainable parameter (a LoRA matrix ``...q_proj.lora_A.default.weight``, or a
    matrix's own weight): that of the module it belongs to, 1 for any other."""
    for module, s in scales.items():
        if f"{module}." in name or name.endswith(f"{module}.weight"):
            return s
    return 1.0


def regroup(optimizer, named_params, scales: dict[str, float]):
    """``optimizer`` (fresh, before its first step) regrouped in place, one parameter group per
    (original group, factor): each group's learning rate times the factor of its parameters
    (:func:`param_scale`), every other setting kept."""
    names = {id(p): n for n, p in named_params}
    groups = []
    for g in optimizer.param_groups:
        by = {}
        for p in g["params"]:
            by.setdefault(round(param_scale(names.get(id(p), ""), scales), 12), []).append(p)
        for s, ps in by.items():
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ps, "lr": g["lr"] * s})
    if optimizer.state:
        raise ValueError("regroup needs an optimizer that has not stepped yet")
    optimizer.param_groups = []
    for g in groups:
        optimizer.add_param_group(g)
    return optimizer


__all__ = ["esd_alpha", "lr_scales", "module_alphas", "param_scale", "regroup"]
