import random

import torch

from sdft_lib.generation import Decoding, HFBackend
from sdft_lib.teaching_world.model import ModelSpec, build_model, length_grouped_batches, train_from_scratch
from sdft_lib.templates import render_prompt_text


def tiny_model(tok, seed=0):
    return build_model(tok, ModelSpec(hidden=32, layers=2, heads=2, ffn=64, max_len=256), seed)


def test_tokenizer_keeps_digits_apart_and_has_a_chat_template(tiny_tokenizer):
    toks = tiny_tokenizer.tokenize("12345")
    assert [t.replace("Ġ", "") for t in toks] == list("12345")
    msgs = [{"role": "user", "content": "Hi"}]
    assert tiny_tokenizer.apply_chat_template(msgs, tokenize=False) == "<s>[INST] Hi [/INST]"


def test_a_few_steps_reduce_the_loss(tiny_world, tiny_tokenizer):
    torch.set_num_threads(1)
    model = tiny_model(tiny_tokenizer)
    log = train_from_scratch(
        model,
        tiny_tokenizer,
        tiny_world["seed_train"][:640],
        epochs=1,
        batch_size=16,
        lr=1e-2,
        warmup=2,
        bf16=False,
        seed=0,
        log_every=1,
    )
    first = sum(e["loss"] for e in log[:3]) / 3
    last = sum(e["loss"] for e in log[-3:]) / 3
    assert last < 0.7 * first


def test_training_is_deterministic_for_a_seed(tiny_world, tiny_tokenizer):
    runs = []
    for _ in range(2):
        model = tiny_model(tiny_tokenizer)
        runs.append(
            [
                e["loss"]
                for e in train_from_scratch(
                    model,
                    tiny_tokenizer,
                    tiny_world["seed_train"][:96],
                    epochs=1,
                    batch_size=16,
                    lr=3e-3,
                    warmup=1,
                    bf16=False,
                    seed=0,
                    log_every=1,
                )
            ]
        )
    assert runs[0] == runs[1]


def test_saved_model_loads_with_auto_classes(tmp_path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = tiny_model(tiny_tokenizer)
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    tok2 = AutoTokenizer.from_pretrained(tmp_path)
    model2 = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(model2).__name__ == "LlamaForCausalLM"
    assert tok2.chat_template == tiny_tokenizer.chat_template
    ids = tok2("<s>[INST] Hi [/INST]", return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, model2(ids).logits)


def test_batched_generation_equals_one_at_a_time(tiny_world, tiny_tokenizer):
    """The original code warned that batched multi-GPU inference garbled outputs: check ours."""
    model = _trained_tiny(tiny_world, tiny_tokenizer)
    recs = [r for rows in tiny_world["eval"].values() for r in rows[:2]]
    prompts = [render_prompt_text("chat", r, tiny_tokenizer) for r in recs]
    dec = Decoding(max_new_tokens=12)
    batched = HFBackend(model, tiny_tokenizer, batch_size=8).generate(prompts, dec)
    single = HFBackend(model, tiny_tokenizer, batch_size=1).generate(prompts, dec)
    assert batched == single
    assert len({len(p) for p in prompts}) > 1  # the batch really was padded


def test_benchmarks_answered_together_get_the_answers_each_gets_alone(tiny_world, tiny_tokenizer):
    """benchmarks.evaluate answers every benchmark that shares a length limit in one generation, in
    batches that mix them; each answer is the one a generation of its own benchmark gives, in its
    benchmark's order, with two length limits in the mix."""
    from dataclasses import replace

    from sdft_lib import benchmarks

    model, tok = _trained_tiny(tiny_world, tiny_tokenizer), tiny_tokenizer
    benches = benchmarks.teaching({k: v[:5] for k, v in tiny_world["eval"].items()})
    benches[1] = replace(benches[1], max_new_tokens=6)
    backend = HFBackend(model, tok, batch_size=4)
    # the pooled batches (HFBackend's order: longest prompt first) do mix benchmarks
    pooled = [(i, p) for i, b in enumerate(benches) if b.max_new_tokens == 48 for p in b.prompts(tok)]
    order = sorted(range(len(pooled)), key=lambda k: len(pooled[k][1]), reverse=True)
    assert any(len({pooled[k][0] for k in order[j : j + 4]}) > 1 for j in range(0, len(order), 4))
    alone = [backend.generate(b.prompts(tok), Decoding(max_new_tokens=b.max_new_tokens)) for b in benches]
    assert benchmarks.answer_pooled(backend, tok, benches, 48) == alone
    _, rows = benchmarks.evaluate(model, tok, benches, 48, batch_size=4)
    assert [(r["skill"], r["response"]) for r in rows] == [
        (b.name, a) for b, outs in zip(benches, alone) for a in outs
    ]
    n_tokens = [[len(tok(a, add_special_tokens=False)["input_ids"]) for a in outs] for outs in alone]
    assert max(n_tokens[1]) <= 6 < max(max(n) for n in n_tokens)  # two limits really ran


def test_length_grouped_batches_cover_every_example_once():
    lengths = [random.Random(0).randint(1, 50) for _ in range(103)]
    batches = length_grouped_batches(lengths, 8, random.Random(0), group=4)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(103))


def test_the_built_seed_directory_loads_with_auto_classes(tmp_path):
    """The folder build_seed_model writes is an ordinary Hugging Face model directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sdft_lib.config import load_config
    from sdft_lib.runs import read_json
    from sdft_lib.teaching_world.build import build_seed_model

    cfg = load_config("smoke", run_dir=str(tmp_path))
    seed_dir = build_seed_model(cfg)
    assert (seed_dir / "model.safetensors").is_file() and (seed_dir / "manifest.json").is_file()
    tok = AutoTokenizer.from_pretrained(seed_dir)
    model = AutoModelForCausalLM.from_pretrained(seed_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Sort 3, 1, 2."}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    scores = read_json(seed_dir / "eval_scores.json")
    assert set(scores) == {"arithmetic", "lists", "tools", "safety", "benign", "rewrite", "multiply"}


def test_generation_says_whether_the_model_ended_each_answer(standin_dir):
    """finished is True only when an end-of-sequence token was generated (not max_new_tokens)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(standin_dir)
    model = AutoModelForCausalLM.from_pretrained(standin_dir).eval()
    with torch.no_grad():
        model.lm_head.weight.zero_()  # all logits equal: greedy picks token 0 (<unk>) every step
    prompts = ["Add 2 and 3.", [tok.bos_token_id, 7, 8, 9]]  # a string and token ids
    gens = HFBackend(model, tok, batch_size=2).generate_full(prompts, Decoding(max_new_tokens=4))
    assert [g.finished for g in gens] == [False, False]  # ran into max_new_tokens
    model.generation_config.eos_token_id = 0  # now the token it always picks ends the answer
    gens = HFBackend(model, tok, batch_size=2).generate_full(prompts, Decoding(max_new_tokens=4))
    assert [g.finished for g in gens] == [True, True]


def test_backend_close_drops_the_model(standin_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    backend = HFBackend(
        AutoModelForCausalLM.from_pretrained(standin_dir), AutoTokenizer.from_pretrained(standin_dir)
    )
    backend.close()
    assert backend.model is None


def _trained_tiny(tiny_world, tiny_tokenizer):
    model = tiny_model(tiny_tokenizer)
    train_from_scratch(
        model,
        tiny_tokenizer,
        tiny_world["seed_train"][:320],
        epochs=1,
        batch_size=16,
        lr=3e-3,
        warmup=2,
        bf16=False,
        seed=0,
    )
    return model.eval()


def test_lean_greedy_decoding_gives_what_generate_gives(tiny_world, tiny_tokenizer, monkeypatch):
    """greedy_decode drops stopped rows from the batch; its tokens are generate's, row for row."""
    from sdft_lib import generation
    from sdft_lib.generation import greedy_decode, left_pad

    model = _trained_tiny(tiny_world, tiny_tokenizer)
    tok = tiny_tokenizer
    recs = [r for rows in tiny_world["eval"].values() for r in rows[:2]]
    ids = [tok(render_prompt_text("chat", r, tok), add_special_tokens=False)["input_ids"] for r in recs]
    input_ids, mask = left_pad(ids, tok.pad_token_id, model.device)
    model.generation_config.eos_token_id = None  # first, no stop at all: every row runs 12 tokens
    free = model.generate(
        input_ids=input_ids,
        attention_mask=mask,
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
    )[:, input_ids.shape[1] :].tolist()
    # stop tokens that end half the rows early, at different steps
    stop = {row[2 + i % 4] for i, row in enumerate(free[: len(free) // 2])}
    model.generation_config.eos_token_id = sorted(stop)
    want = model.generate(
        input_ids=input_ids,
        attention_mask=mask,
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
    )[:, input_ids.shape[1] :].tolist()
    want = [row[: next((j + 1 for j, t in enumerate(row) if t in stop), len(row))] for row in want]
    got = greedy_decode(model, input_ids, mask, 12, stop)
    assert got == want
    assert sum(len(r) < 12 for r in got) >= len(got) // 2  # rows really left the batch early
    assert len({len(p) for p in ids}) > 1  # and the batch was padded

    prompts = [render_prompt_text("chat", r, tok) for r in recs]
    dec = Decoding(max_new_tokens=12)
    lean = HFBackend(model, tok, batch_size=8).generate_full(prompts, dec)
    monkeypatch.setattr(generation, "plain_greedy", lambda model, decoding: False)
    full = HFBackend(model, tok, batch_size=8).generate_full(prompts, dec)
    assert lean == full
    assert any(g.finished for g in lean) and not all(g.finished for g in lean)


def test_only_plain_greedy_search_takes_the_lean_path():
    from conftest import tiny_llama

    from sdft_lib.generation import plain_greedy

    model = tiny_llama()
    assert plain_greedy(model, Decoding())
    assert not plain_greedy(model, Decoding(do_sample=True))
    for field, value in [("repetition_penalty", 1.3), ("no_repeat_ngram_size", 2), ("num_beams", 2)]:
        old = getattr(model.generation_config, field)
        setattr(model.generation_config, field, value)
        assert not plain_greedy(model, Decoding()), field
        setattr(model.generation_config, field, old)
