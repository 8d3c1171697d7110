"""Merging fine-tuned runs (sdft_lib.merging): the soup is the mean, parameter selection takes every
element whole from one run, on three LoRA runs of a tiny random Llama merged into its weights."""

import pytest
import torch

from sdft_lib.merging import merged_cost, select, soup


@pytest.fixture(scope="module")
def runs():
    """The seed's state and three runs' merged states: the same base, three adapters."""
    from conftest import tiny_llama
    from peft import LoraConfig, get_peft_model

    base = tiny_llama
    seed = {k: v.clone() for k, v in base().state_dict().items()}
    states = []
    for s in range(3):
        model = base()
        torch.manual_seed(100 + s)  # after the base's own seed: each run its own adapter
        model = get_peft_model(
            model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
        )
        for name, p in model.named_parameters():
            if "lora_B" in name:  # a trained adapter: B is not zero
                torch.nn.init.normal_(p, std=0.5)
        states.append({k: v.clone() for k, v in model.merge_and_unload().state_dict().items()})
    return seed, states


def test_the_soup_is_the_mean_of_the_runs(runs):
    seed, states = runs
    out = soup(states)
    assert set(out) == set(seed)
    for k in seed:
        mean = sum(s[k].double() for s in states) / len(states)
        assert torch.allclose(out[k].double(), mean, atol=1e-6), k
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(out[q], states[0][q])  # the adapted layers moved
    emb = "model.embed_tokens.weight"  # a weight no run changed stays the seed's, bit for bit
    assert torch.equal(out[emb], seed[emb])


def test_parameter_selection_takes_every_element_from_one_run(runs):
    seed, states = runs
    out = select(states, seed=0)
    for k in seed:
        from_one = torch.zeros_like(out[k], dtype=torch.bool)
        for s in states:
            from_one |= out[k] == s[k]
        assert bool(from_one.all()), k  # each merged parameter equals one run's, exactly
    q = "model.layers.1.self_attn.v_proj.weight"
    shares = [float((out[q] == s[q]).float().mean()) for s in states]
    assert all(0.25 < x < 0.42 for x in shares), shares  # drawn uniformly: about a third from each
    assert not any(torch.equal(out[q], s[q]) for s in states)  # a mosaic, not one run
    emb = "model.embed_tokens.weight"
    assert torch.equal(out[emb], seed[emb])


def test_parameter_selection_is_fixed_by_its_seed(runs):
    _, states = runs
    q = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(select(states, seed=1)[q], select(states, seed=1)[q])
    assert not torch.equal(select(states, seed=1)[q], select(states, seed=2)[q])


def test_a_merged_models_cost_is_every_run_it_merges():
    costs = [
        {"train_seconds": 10.0, "tokens_trained": 100, "tokens_generated": 50, "data_seconds": 3.0},
        {"train_seconds": 12.0, "tokens_trained": 110, "tokens_generated": 50, "data_seconds": 3.0},
    ]
    assert merged_cost(costs) == {
        "train_seconds": 22.0,
        "tokens_trained": 210,
        "tokens_generated": 50,  # the data, made once, serves every run
        "data_seconds": 3.0,
    }


def test_merged_scores_refuses_an_unknown_method_or_a_draw_without_seed(tmp_path):
    from sdft_lib.config import load_config
    from sdft_lib.merging import merged_scores

    cfg = load_config("smoke", run_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"method='mean' is not allowed: choose soup or select"):
        merged_scores(cfg, [tmp_path], "mean")
    with pytest.raises(ValueError, match=r"needs the seed"):
        merged_scores(cfg, [tmp_path], "select")
