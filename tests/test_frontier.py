"""Mechanics of the methods beyond SDFT (sdft_lib.frontier) on a tiny random Llama with LoRA."""

import pytest
import torch

from sdft_lib.frontier import layer_index, lines, lines_scales, lora_modules, replay_mix, wise_ft


@pytest.fixture
def tuned():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                            lora_dropout=0.0))
    for _, m in lora_modules(model):  # a trained adapter: B is not zero
        for b in m.lora_B.values():
            torch.nn.init.normal_(b.weight, std=0.5)
    return model.eval()


IDS = torch.tensor([[1, 5, 9, 13, 2, 7]])


def logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_wise_ft_ends_are_the_seed_and_the_run(tuned):
    run = logits(tuned)
    with tuned.disable_adapter():
        seed = logits(tuned)
    assert not torch.allclose(run, seed)
    wise_ft(tuned, 0.0)
    assert torch.equal(logits(tuned), seed)
    wise_ft(tuned, 1.0)
    assert torch.allclose(logits(tuned), run, atol=1e-6)
    wise_ft(tuned, 0.5)  # in between, and calls do not compound
    mid = logits(tuned)
    assert not torch.allclose(mid, seed) and not torch.allclose(mid, run)
    wise_ft(tuned, 0.5)
    assert torch.equal(logits(tuned), mid)
    with pytest.raises(ValueError, match="alpha=1.5 is not allowed"):
        wise_ft(tuned, 1.5)


def test_lines_scales_grow_with_depth(tuned):
    assert lines_scales(3, 0.2, 0.8) == pytest.approx([0.2, 0.6, 1.0])
    assert lines_scales(1, 0.2, 0.8) == [1.0]
    trained = {n: dict(m.scaling) for n, m in lora_modules(tuned)}
    scales = lines(tuned, 0.2, 0.8)
    for name, m in lora_modules(tuned):
        layer = layer_index(name)
        assert layer is not None
        for adapter, s in m.scaling.items():
            assert s == pytest.approx(trained[name][adapter] * scales[layer])
    assert layer_index("base_model.model.model.layers.12.mlp.down_proj") == 12
    assert layer_index("lm_head") is None


def test_lines_with_full_scale_everywhere_is_the_run(tuned):
    run = logits(tuned)
    lines(tuned, 1.0, 0.0)
    assert torch.allclose(logits(tuned), run, atol=1e-6)


def test_replay_mix_ratio_and_seed():
    task = [{"instruction": f"t{i}", "output": ""} for i in range(10)]
    replay = [{"instruction": f"r{i}", "output": ""} for i in range(4)]
    mixed = replay_mix(task, replay, 0.5, seed=1)
    assert len(mixed) == 15 and sum(r["instruction"].startswith("r") for r in mixed) == 5
    assert {r["instruction"] for r in mixed if r["instruction"].startswith("t")} == {r["instruction"] for r in task}
    assert mixed == replay_mix(task, replay, 0.5, seed=1) and mixed != replay_mix(task, replay, 0.5, seed=2)
    assert sorted(r["instruction"] for r in replay_mix(task, replay, 0.0)) == sorted(r["instruction"] for r in task)
    with pytest.raises(ValueError):
        replay_mix(task, [], 0.2)
