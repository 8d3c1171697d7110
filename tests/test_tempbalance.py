"""TempBalance (sdft_lib.tempbalance): the spectral fit, the map from α to learning rates, and a
training run whose optimizer gives each LoRA matrix its module's learning rate."""

import numpy as np
import pytest
import torch

from sdft_lib.config import load_config
from sdft_lib.errors import ConfigError
from sdft_lib.tempbalance import esd_alpha, lr_scales, param_scale, regroup


def _matrix_with_spectrum(alpha: float, n: int = 400, seed: int = 0) -> torch.Tensor:
    """A square matrix whose eigenvalues of WᵀW are drawn from p(λ) ∝ λ^(-alpha), λ >= 1."""
    rng = np.random.default_rng(seed)
    lam = (1 - rng.random(n)) ** (-1 / (alpha - 1))
    q1, _ = np.linalg.qr(rng.normal(size=(n, n)))
    q2, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return torch.tensor(q1 @ np.diag(np.sqrt(lam)) @ q2.T)


@pytest.mark.parametrize("alpha", [2.0, 3.0, 5.0])
def test_the_fit_recovers_the_exponent_of_a_power_law_spectrum(alpha):
    w = _matrix_with_spectrum(alpha)
    assert esd_alpha(w, "median") == pytest.approx(alpha, rel=0.2)
    assert esd_alpha(w, "ks") == pytest.approx(alpha, rel=0.25)


def test_a_heavier_tail_gives_a_smaller_alpha_and_a_smaller_learning_rate():
    alphas = {"heavy": esd_alpha(_matrix_with_spectrum(2.0)), "light": esd_alpha(_matrix_with_spectrum(5.0))}
    assert alphas["heavy"] < alphas["light"]
    scales = lr_scales({**alphas, "mid": (alphas["heavy"] + alphas["light"]) / 2}, 0.5, 1.5)
    assert scales["heavy"] == pytest.approx(0.5) and scales["light"] == pytest.approx(1.5)
    assert scales["mid"] == pytest.approx(1.0)
    assert lr_scales({"a": 3.0, "b": 3.0}) == {"a": 1.0, "b": 1.0}
    with pytest.raises(ValueError):
        lr_scales(alphas, 1.5, 0.5)


def test_each_parameter_takes_its_modules_factor():
    scales = {"model.layers.1.self_attn.q_proj": 0.5, "model.layers.11.self_attn.q_proj": 1.5}
    assert (
        param_scale("base_model.model.model.layers.1.self_attn.q_proj.lora_A.default.weight", scales) == 0.5
    )
    assert (
        param_scale("base_model.model.model.layers.11.self_attn.q_proj.lora_B.default.weight", scales) == 1.5
    )
    assert param_scale("model.layers.1.self_attn.q_proj.weight", scales) == 0.5
    assert param_scale("model.embed_tokens.weight", scales) == 1.0


def test_regroup_keeps_every_parameter_once_at_its_own_rate():
    a, b, c = (torch.nn.Parameter(torch.zeros(2)) for _ in range(3))
    opt = torch.optim.AdamW([{"params": [a, b, c], "weight_decay": 0.0}], lr=0.1)
    new = regroup(opt, [("m1.lora_A", a), ("m2.lora_A", b), ("other", c)], {"m1": 2.0, "m2": 0.5})
    lrs = {id(p): g["lr"] for g in new.param_groups for p in g["params"]}
    assert lrs == {id(a): pytest.approx(0.2), id(b): pytest.approx(0.05), id(c): pytest.approx(0.1)}
    assert all(g["weight_decay"] == 0.0 for g in new.param_groups)


def test_a_training_run_gives_each_lora_matrix_its_modules_learning_rate(tmp_path):
    from transformers import TrainerCallback

    from sdft_lib.frontier import tempbalance_alphas
    from sdft_lib.training import train_adapter, variant_data

    cfg = load_config("smoke", run_dir=str(tmp_path / "run"), lora_targets="q_proj,v_proj")
    alphas = tempbalance_alphas(cfg)
    assert alphas and all(a > 1 for a in alphas.values())
    scales = {k: (0.5 if "q_proj" in k else 1.5) for k in alphas}
    seen = {}

    class Record(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, model=None, **kw):
            if not seen:
                names = {id(p): n for n, p in model.named_parameters()}
                for g in optimizer.param_groups:
                    for p in g["params"]:
                        seen[names[id(p)]] = g["lr"]

    run = train_adapter(
        cfg, "tempbalance", data=variant_data(cfg, "sft"), lr_scales=scales, callbacks=[Record()]
    )
    q = {v for k, v in seen.items() if "q_proj" in k}
    v = {v for k, v in seen.items() if "v_proj" in k}
    assert len(q) == len(v) == 1 and q.pop() * 3 == pytest.approx(v.pop())  # 0.5 against 1.5
    plain = train_adapter(cfg, "tempbalance", data=variant_data(cfg, "sft"))
    assert plain != run  # the factors are part of the run's key


def test_the_range_parameter_names_itself():
    from sdft_lib.config import parse_range

    assert parse_range("tempbalance_range", "0.5,1.5", 0.01, 10) == (0.5, 1.5)
    with pytest.raises(ConfigError, match=r"^tempbalance_range='1.5,0.5' is not allowed: give two numbers"):
        parse_range("tempbalance_range", "1.5,0.5", 0.01, 10)
