"""ProMoT (sdft_lib.promot): the soft prompt rides on placeholder tokens only; stage 1 trains the
prompt alone, stage 2 the adapter alone; without its prompt the model is the stage-2 model."""

import pytest
import torch

from sdft_lib.config import load_config
from sdft_lib.promot import PromptedEmbedding, load_promot, load_prompt, placeholder_id


def test_the_prompt_replaces_exactly_the_placeholders_in_order():
    embed = torch.nn.Embedding(10, 3)
    prompt = torch.arange(6.0).reshape(2, 3) + 100
    pe = PromptedEmbedding(embed, prompt, placeholder=0, trainable=False)
    ids = torch.tensor([[5, 0, 0, 7], [0, 0, 4, 4]])
    out = pe(ids)
    assert torch.equal(out[0, 1], prompt[0]) and torch.equal(out[0, 2], prompt[1])
    assert torch.equal(out[1, 0], prompt[0]) and torch.equal(out[1, 1], prompt[1])
    for b, t in [(0, 0), (0, 3), (1, 2), (1, 3)]:
        assert torch.equal(out[b, t], embed(ids[b, t]))
    plain = torch.tensor([[5, 6, 7]])
    assert torch.equal(pe(plain), embed(plain))  # no placeholder: the embedding itself
    assert pe.weight is embed.weight  # a tied output layer still finds its weight


@pytest.fixture(scope="module")
def promot_run(tmp_path_factory):
    from sdft_lib.promot import train_promot, train_prompt

    cfg = load_config("smoke", run_dir=str(tmp_path_factory.mktemp("promot")), learning_rate=5e-3)
    return cfg, train_prompt(cfg, 4, 0.05, 0), train_promot(cfg, 4, 0.05, 0)


def test_stage_one_moves_the_prompt_and_stage_two_keeps_it(promot_run):
    from sdft_lib.models import load_model
    from sdft_lib.promot import initial_prompt
    from sdft_lib.training import variant_data

    cfg, stage1, stage2 = promot_run
    model, tok = load_model(cfg)
    start = initial_prompt(model, tok, variant_data(cfg, "sft")[0], 4, 0)
    assert not torch.equal(load_prompt(stage1), start)  # stage 1 trained the prompt
    assert torch.equal(load_prompt(stage2), load_prompt(stage1))  # stage 2 left it as it was
    assert (stage2 / "adapter" / "adapter_config.json").is_file()


def test_without_its_prompt_the_model_is_the_stage_two_model(promot_run):
    from peft import PeftModel

    from sdft_lib.models import load_model

    cfg, _, stage2 = promot_run
    prompted, tok = load_promot(cfg, stage2)
    base, _ = load_model(cfg)
    tuned = PeftModel.from_pretrained(base, stage2 / "adapter").merge_and_unload().eval()
    ids = torch.tensor([tok("What is 2 plus 3?", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(prompted(ids).logits, tuned(ids).logits)
        ph = torch.full((1, 4), placeholder_id(tok))
        with_prompt = prompted(torch.cat([ph, ids], 1)).logits[:, 4:]
        without = tuned(torch.cat([ph, ids], 1)).logits[:, 4:]
        assert not torch.allclose(with_prompt, without)  # the placeholders carry the prompt


def test_only_the_task_is_asked_with_the_soft_prompt(promot_run, monkeypatch):
    from sdft_lib import benchmarks
    from sdft_lib.evaluation import task_benchmark
    from sdft_lib.promot import promot_scores

    cfg, _, _ = promot_run
    seen = {}
    real = benchmarks.evaluate

    def spy(model, tok, benches, *a, **k):
        ph = placeholder_id(tok)
        for b in benches:
            seen[b.name] = {p[:4] == [ph] * 4 for p in b.prompts(tok)}
        return real(model, tok, benches, *a, **k)

    monkeypatch.setattr(benchmarks, "evaluate", spy)
    scores = promot_scores(cfg, 4, 0.05, 0)
    target = task_benchmark(cfg)
    assert set(scores) == set(seen) and seen[target] == {True}
    assert all(v == {False} for k, v in seen.items() if k != target)


def test_a_tokenizer_without_a_free_token_stops_with_one_line():
    class Tok:
        unk_token_id = pad_token_id = 0
        bos_token_id, eos_token_id = 1, 2

    with pytest.raises(ValueError, match="ProMoT needs a token id no text produces"):
        placeholder_id(Tok())


def test_promot_trains_lora_in_stage_two_whatever_finetune_says(promot_run):
    """Under ``-p finetune full`` (or half) the chapter's ProMoT is still SFT's LoRA with the prompt:
    the same cached runs as under LoRA."""
    from sdft_lib.promot import train_promot, train_prompt

    cfg, stage1, stage2 = promot_run
    full = cfg.replace(finetune="full")
    assert train_prompt(full, 4, 0.05, 0) == stage1 and train_promot(full, 4, 0.05, 0) == stage2
