import math

import torch

from sdft_lib.chat import render_prompt
from sdft_lib.likelihood import mean_nll, response_nll
from sdft_lib.teaching_world.model import ModelSpec, build_model


def direct_nll(model, tok, rec):
    """Score one record by hand: log-probabilities of the response tokens given the prompt."""
    prompt = render_prompt(tok, rec)
    full = tok.apply_chat_template([{"role": "user", "content": rec["instruction"]},
                                    {"role": "assistant", "content": rec["output"]}], tokenize=False)
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = tok(full, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
    nll = [-logp[t - 1, ids[t]].item() for t in range(len(p), len(ids))]
    return sum(nll) / len(nll), len(nll)


def test_nll_is_over_response_tokens_only_and_matches_direct(tiny_world, tiny_tokenizer):
    model = build_model(tiny_tokenizer, ModelSpec(hidden=32, layers=1, heads=2, ffn=64), 0).eval()
    recs = tiny_world["eval"]["arithmetic"][:3] + tiny_world["eval"]["tools"][:3]
    got = response_nll(model, tiny_tokenizer, recs, batch_size=4)
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
