import math

import pytest
import torch

from sdft_lib.likelihood import mean_nll, response_nll
from sdft_lib.teaching_world.model import ModelSpec, build_model
from sdft_lib.templates import render_prompt_text


def direct_nll(model, tok, rec):
    """Score one record by hand: log-probabilities of the response tokens given the prompt."""
    prompt = render_prompt_text("chat", rec, tok)
    full = tok.apply_chat_template(
        [{"role": "user", "content": rec["instruction"]}, {"role": "assistant", "content": rec["output"]}],
        tokenize=False,
    )
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = tok(full, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
    nll = [-logp[t - 1, ids[t]].item() for t in range(len(p), len(ids))]
    return sum(nll) / len(nll), len(nll)


def test_nll_is_over_response_tokens_only_and_matches_direct(tiny_world, tiny_tokenizer):
    model = build_model(tiny_tokenizer, ModelSpec(hidden=32, layers=1, heads=2, ffn=64), 0).eval()
    recs = tiny_world["eval"]["arithmetic"][:3] + tiny_world["eval"]["tools"][:3]
    got = response_nll(model, tiny_tokenizer, recs, max_batch_tokens=200, slice_tokens=7)
    for rec, row in zip(recs, got):
        want, n = direct_nll(model, tiny_tokenizer, rec)
        assert row["tokens"] == n
        assert math.isclose(row["nll"], want, rel_tol=1e-4)
        assert math.isclose(row["ppl"], math.exp(want), rel_tol=1e-3)


def test_prompt_does_not_count(tiny_world, tiny_tokenizer):
    """Same response, different prompts: token counts are equal."""
    model = build_model(tiny_tokenizer, ModelSpec(hidden=32, layers=1, heads=2, ffn=64), 0).eval()
    a = {"instruction": "Hi", "input": "", "output": "Here is the result. The answer is 3."}
    b = {"instruction": "A much longer prompt with many more words in it", "input": "", "output": a["output"]}
    ra, rb = response_nll(model, tiny_tokenizer, [a, b])
    assert ra["tokens"] == rb["tokens"]


def test_mean_nll_weights_tokens():
    assert mean_nll([{"nll": 1.0, "tokens": 1}, {"nll": 3.0, "tokens": 3}]) == 2.5


def test_paper_template_nll_matches_the_training_loss(standin_dir):
    """With a paper template the NLL is the loss the Trainer computes on the same encoded example."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sdft_lib.templates import collator, train_example

    tok = AutoTokenizer.from_pretrained(standin_dir)
    model = AutoModelForCausalLM.from_pretrained(standin_dir).eval()
    recs = [
        {"instruction": "Add 2 and 3.", "input": "", "output": "2 + 3 = 5. The answer is 5."},
        {
            "instruction": "Name a colour.",
            "input": "one word",
            "output": "Blue",
            "history": [["Hi", "Hello"]],
        },
    ]
    rows = response_nll(model, tok, recs, template="gsm8k", cutoff=1024, branch="main", max_batch_tokens=64)
    for rec, row in zip(recs, rows):
        ex = train_example(tok, "gsm8k", rec, 1024, branch="main")
        batch = collator(0)([ex])
        with torch.no_grad():
            loss = model(**batch).loss.item()
        assert row["tokens"] == sum(1 for x in ex["labels"][1:] if x != -100)
        assert math.isclose(row["nll"], loss, rel_tol=1e-4)


def test_token_budget_batches_respect_the_budget():
    from sdft_lib.likelihood import token_budget_batches

    lengths = [5, 50, 7, 300, 6, 49]
    batches = token_budget_batches(lengths, 100)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 100


def direct_kl(p_model, q_model, tok, rec):
    """KL(p || q) by hand: over the response tokens, from each model's full next-token distribution."""
    prompt = render_prompt_text("chat", rec, tok)
    full = tok.apply_chat_template(
        [{"role": "user", "content": rec["instruction"]}, {"role": "assistant", "content": rec["output"]}],
        tokenize=False,
    )
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([tok(full, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        lp = torch.log_softmax(p_model(ids).logits[0].float(), -1)
        lq = torch.log_softmax(q_model(ids).logits[0].float(), -1)
    kl = [(lp[t - 1].exp() * (lp[t - 1] - lq[t - 1])).sum().item() for t in range(len(p), ids.shape[1])]
    return sum(kl) / len(kl)


def test_response_kl_matches_direct_and_is_zero_for_one_model(tiny_world, tiny_tokenizer):
    from sdft_lib.likelihood import response_kl

    a = build_model(tiny_tokenizer, ModelSpec(hidden=32, layers=1, heads=2, ffn=64), 0).eval()
    b = build_model(tiny_tokenizer, ModelSpec(hidden=32, layers=1, heads=2, ffn=64), 1).eval()
    recs = tiny_world["eval"]["arithmetic"][:3] + tiny_world["eval"]["tools"][:2]
    got = response_kl(a, b, tiny_tokenizer, recs, max_batch_tokens=150, slice_tokens=5)
    nll_a = response_nll(a, tiny_tokenizer, recs)
    nll_b = response_nll(b, tiny_tokenizer, recs)
    for rec, row, na, nb in zip(recs, got, nll_a, nll_b):
        assert math.isclose(row["kl"], direct_kl(a, b, tiny_tokenizer, rec), rel_tol=1e-3, abs_tol=1e-6)
        assert row["kl"] > 0 and row["tokens"] == na["tokens"]
        assert math.isclose(row["p_nll"], na["nll"], rel_tol=1e-4) and math.isclose(
            row["q_nll"], nb["nll"], rel_tol=1e-4
        )
    same = response_kl(a, a, tiny_tokenizer, recs)
    assert all(r["kl"] == 0 and math.isclose(r["p_nll"], r["q_nll"]) for r in same)


def test_the_gap_is_token_weighted_and_splits_accepted_from_fallbacks(tiny_world, tiny_tokenizer):
    """distribution_gap.dataset_nll is the book's one measure (token-weighted over the set's rows, as
    likelihood.mean_nll); gap_table measures the distilled set's accepted rewrites and fallbacks apart."""
    from types import SimpleNamespace

    from sdft_lib.distribution_gap import dataset_nll, gap_table

    model = build_model(tiny_tokenizer, ModelSpec(hidden=32, layers=1, heads=2, ffn=64), 0).eval()
    cfg = SimpleNamespace(train_template="chat", cutoff_len=None, paper_branch="reproduce")
    original = tiny_world["eval"]["arithmetic"][:4]
    distilled = [{**r, "output": r["output"] + " Done."} for r in original[:2]] + original[2:]
    rows = response_nll(model, tiny_tokenizer, distilled)
    assert math.isclose(dataset_nll(model, tiny_tokenizer, distilled, cfg), mean_nll(rows), rel_tol=1e-6)
    t = gap_table(model, tiny_tokenizer, cfg, original, distilled, [True, True, False, False])
    assert list(t.index) == [
        "original",
        "distilled (all)",
        "distilled: accepted rewrites",
        "distilled: fallbacks (originals)",
    ]
    assert t.loc["distilled: accepted rewrites", "records"] == 2
    assert math.isclose(
        t.loc["distilled: fallbacks (originals)", "NLL (nats/token)"], mean_nll(rows[2:]), rel_tol=1e-6
    )
    whole = t.loc["distilled (all)"]
    parts = t.loc[["distilled: accepted rewrites", "distilled: fallbacks (originals)"]]
    weighted = (parts["NLL (nats/token)"] * parts.tokens).sum() / parts.tokens.sum()
    assert (
        math.isclose(whole["NLL (nats/token)"], weighted, rel_tol=1e-6) and whole.tokens == parts.tokens.sum()
    )
    with pytest.raises(ValueError, match="3 verdicts for 4"):
        gap_table(model, tiny_tokenizer, cfg, original, distilled, [True, False, True])
