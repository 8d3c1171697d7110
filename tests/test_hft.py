"""Half Fine-Tuning (sdft_lib.hft, ``finetune: half``): which half trains, and a run through the
training stage whose frozen half is bit-identical to the seed."""

import pytest
import torch

from sdft_lib.config import load_config
from sdft_lib.hft import ATTENTION, FEED_FORWARD, half_selection, layer_matrices


def _llama(layers=4):
    from conftest import tiny_llama

    return tiny_llama(layers)


def test_half_of_every_layers_attention_and_of_the_feed_forward_is_chosen():
    model = _llama(layers=4)
    chosen = half_selection(model, seed=0)
    layers = layer_matrices(model)
    assert sorted(layers) == [0, 1, 2, 3]
    ffn_counts = []
    for i, mods in layers.items():
        picked = {m for m, name in mods.items() if name in chosen}
        assert len(picked & set(ATTENTION)) == 2, (i, picked)
        ffn_counts.append(len(picked & set(FEED_FORWARD)))
    assert sorted(ffn_counts) == [1, 1, 2, 2]  # two of three in half the layers, one in the others
    assert len(chosen) == 14  # half of the 28 matrices
    assert not any("embed" in n or "norm" in n or "lm_head" in n for n in chosen)


def test_the_half_is_drawn_with_the_seed():
    model = _llama()
    assert half_selection(model, seed=3) == half_selection(model, seed=3)
    assert len({tuple(half_selection(model, seed=s)) for s in range(6)}) > 1


def test_a_model_without_llama_layers_stops_with_one_line():
    with pytest.raises(ValueError, match="finetune='half' needs a Llama-shaped model"):
        half_selection(torch.nn.Linear(4, 4), seed=0)


def test_a_half_fine_tuning_run_leaves_the_frozen_half_bit_identical(tmp_path):
    from sdft_lib.models import load_model
    from sdft_lib.training import load_finetuned, run_metrics, train_adapter

    cfg = load_config(
        "smoke",
        run_dir=str(tmp_path / "run"),
        finetune="half",
        learning_rate=1e-3,
        epochs=1.0,
        batch_size=8,
        grad_accum=1,
    )
    run = train_adapter(cfg, "sft", seed=1)
    assert (run / "model" / "model.safetensors").is_file()
    seed_model, _ = load_model(cfg)
    tuned, _ = load_finetuned(cfg, run)
    before, after = seed_model.state_dict(), tuned.state_dict()
    chosen = set(half_selection(seed_model, seed=1))
    assert chosen and set(before) == set(after)
    for name in before:
        if name in chosen:
            assert not torch.equal(before[name], after[name]), f"{name} was chosen but did not train"
        else:
            assert torch.equal(before[name], after[name]), f"{name} is frozen but moved"
    m = run_metrics(run)
    assert m["finetune"] == "half"
    assert m["trainable_parameters"] == sum(before[n].numel() for n in chosen) < m["total_parameters"] / 2
