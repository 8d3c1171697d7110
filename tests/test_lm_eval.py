"""The teaching world's skills as lm-eval custom tasks, run through HFLM on a tiny model.

The targets of some documents are set to the model's own greedy answers (computed by the book's
generation backend), so lm-eval's exact_match must come out at exactly that fraction: this checks
that lm-eval sees the same prompt string, tokenization, stop sequence and decoding as the book.
"""

import json

import pytest
import torch
import yaml

from sdft_lib.generation import Decoding, HFBackend
from sdft_lib.lm_eval_tasks import primary_score, run_lm_eval, write_teaching_tasks
from sdft_lib.templates import render_prompt_text

GEN = 6


@pytest.fixture(scope="module")
def tiny_model(tiny_tokenizer, tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = tiny_tokenizer
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(cfg).eval()
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path, model, tok


def _recs():
    return [
        {
            "instruction": f"There are {a} cups. {b} more come. How many cups?",
            "input": "",
            "output": f"Let me compute that. {a} + {b} = {a + b}. The answer is {a + b}.",
        }
        for a, b in ((3, 4), (10, 5), (7, 2), (12, 9))
    ]


def _greedy(model, tok, recs):
    return HFBackend(model, tok, batch_size=4).generate(
        [render_prompt_text("chat", r, tok) for r in recs], Decoding(max_new_tokens=GEN)
    )


def test_task_files_are_valid_lm_eval_yaml(tmp_path, tiny_tokenizer):
    names = write_teaching_tasks(tmp_path, {"arithmetic": _recs(), "lists": _recs()[:2]}, tiny_tokenizer)
    assert names == ["tw_arithmetic", "tw_lists", "tw_arithmetic_mc"]
    spec = yaml.safe_load((tmp_path / "tw_arithmetic.yaml").read_text())
    assert spec["output_type"] == "generate_until" and spec["metric_list"][0]["metric"] == "exact_match"
    mc = [json.loads(line) for line in (tmp_path / "arithmetic_mc.jsonl").read_text().splitlines()]
    for doc, rec in zip(mc, _recs()):
        assert len(doc["choices"]) == 4 and doc["choices"][doc["gold"]] == rec["output"]
        assert len(set(doc["choices"])) == 4  # distractors differ from the answer and each other


def test_lm_eval_scores_the_same_answers_as_the_book(tmp_path, tiny_model):
    path, model, tok = tiny_model
    recs = _recs()
    own = _greedy(model, tok, recs)
    recs[0]["output"], recs[1]["output"] = own[0], own[1]  # 2 of 4 targets are the model's own answers
    recs[2]["output"] += " (never generated)"
    recs[3]["output"] += " (never generated)"
    tasks = write_teaching_tasks(tmp_path / "tasks", {"arithmetic": recs}, tok, max_gen_toks=GEN)
    res = run_lm_eval(path, ["tw_arithmetic"], include_path=tmp_path / "tasks", batch_size=4)
    assert res["tw_arithmetic"]["exact_match"] == pytest.approx(0.5)
    assert primary_score(res["tw_arithmetic"]) == ("exact_match", pytest.approx(0.5))
    assert tasks[-1] == "tw_arithmetic_mc"


def test_lm_eval_with_a_peft_adapter(tmp_path, tiny_model):
    from peft import LoraConfig, get_peft_model

    path, model, tok = tiny_model
    torch.manual_seed(1)
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=4,
            lora_alpha=64,
            target_modules=["q_proj", "v_proj"],
            init_lora_weights=False,
            task_type="CAUSAL_LM",
        ),
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    recs = _recs()
    tuned = _greedy(peft_model, tok, recs)
    base = _greedy(peft_model.unload(), tok, recs)
    for r, t in zip(recs, tuned):
        r["output"] = t
    assert write_teaching_tasks(tmp_path / "tasks", {"arithmetic": recs}, tok, max_gen_toks=GEN) == [
        "tw_arithmetic"
    ]  # no final numbers in these answers: no multiple-choice task
    write_teaching_tasks(tmp_path / "mc", {"arithmetic": _recs()}, tok)
    import shutil

    shutil.copy(tmp_path / "mc" / "tw_arithmetic_mc.yaml", tmp_path / "tasks")
    with_adapter = run_lm_eval(
        path,
        ["tw_arithmetic", "tw_arithmetic_mc"],
        adapter=tmp_path / "adapter",
        include_path=tmp_path / "tasks",
        batch_size=4,
    )
    assert with_adapter["tw_arithmetic"]["exact_match"] == pytest.approx(1.0)
    assert 0.0 <= with_adapter["tw_arithmetic_mc"]["acc"] <= 1.0
    if base != tuned:  # the adapter changes answers: without it, lm-eval must not match them all
        without = run_lm_eval(path, ["tw_arithmetic"], include_path=tmp_path / "tasks", batch_size=4)
        assert without["tw_arithmetic"]["exact_match"] < 1.0
