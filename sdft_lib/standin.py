"""A stand-in for a real chat model, made offline: Llama-2's architecture and tokenizer behaviour,
random weights.

No machine of this project reaches a model hub, so the paper's path (Llama-2-7b-chat) is tested on
this instead. It is built to fail where a real Llama-2 would make the code fail:

* a **SentencePiece-style tokenizer** with Llama-2's ``tokenizer.json`` layout: the normalizer
  prepends ``▁`` to every text it encodes and turns spaces into ``▁``; the BPE model falls back to
  the 256 byte tokens ``<0x00>``..``<0xFF>`` for characters it does not know; ``<unk>``, ``<s>``,
  ``</s>`` are ids 0, 1, 2; no pad token; Llama-2-chat's chat template. So encoding two pieces
  separately gives other ids than encoding their concatenation (``"### Instruction"`` alone starts
  with ``▁###``), exactly the boundary effects the real tokenizer has;
* a small randomly initialised ``LlamaForCausalLM`` whose ``generation_config`` samples by default
  (T=0.6, top-p 0.9), as Llama-2-7b-chat's does, so code that forgets to pass its own decoding
  settings is caught;
* saved with ``save_pretrained`` (safetensors), loadable with the Auto classes, peft, lm-eval's HFLM.

Its answers are noise; it exists so that every cell of every notebook runs on a real-model code path.
``python -m sdft_lib.standin OUT --data tests/fixtures/paper-data`` builds one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

SPM_SPACE = "\u2581"  # ▁
SPECIALS = ("<unk>", "<s>", "</s>")
BYTE_TOKENS = tuple(f"<0x{i:02X}>" for i in range(256))


def train_spm_like_tokenizer(texts: Iterable[str], vocab_size: int = 1200):
    """A BPE tokenizer that encodes like Llama-2's (see the module docstring), trained on ``texts``."""
    from tokenizers import (
        AddedToken,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    from .chat import LLAMA2_CHAT_TEMPLATE

    # Learn merges inside words only (SentencePiece's split_by_whitespace) and keep digits single
    # (Llama-2's split_digits). The pre-tokenizer is used for training and then dropped, as in
    # Llama-2's tokenizer.json, where the whole normalized text goes to the BPE model.
    learner = Tokenizer(models.BPE(unk_token="<unk>"))
    learner.normalizer = normalizers.Sequence(
        [normalizers.Prepend(SPM_SPACE), normalizers.Replace(" ", SPM_SPACE)]
    )
    learner.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(SPM_SPACE, behavior="merged_with_next"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    budget = max(0, vocab_size - len(SPECIALS) - len(BYTE_TOKENS))
    learner.train_from_iterator(list(texts), trainers.BpeTrainer(vocab_size=budget, show_progress=False))
    model = json.loads(learner.to_str())["model"]
    learned = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    vocab = {t: i for i, t in enumerate(SPECIALS + BYTE_TOKENS)}
    for token, _ in learned:
        vocab.setdefault(token, len(vocab))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]

    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    )
    tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend(SPM_SPACE), normalizers.Replace(" ", SPM_SPACE)]
    )
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace(SPM_SPACE, " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
        padding_side="left",
    )
    hf.chat_template = LLAMA2_CHAT_TEMPLATE
    return hf


def build_standin(
    out: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 1200,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    ffn: int = 128,
    max_positions: int = 4096,
    seed: int = 0,
) -> Path:
    """Train the tokenizer on ``texts``, initialise the model at random, save both to ``out``."""
    import os
    import shutil
    import tempfile

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = train_spm_like_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=None,
        rms_norm_eps=1e-5,
    )
    model = LlamaForCausalLM(config)
    gc = model.generation_config  # Llama-2-7b-chat's own generation_config.json samples
    gc.bos_token_id, gc.eos_token_id, gc.pad_token_id = tok.bos_token_id, tok.eos_token_id, 0
    gc.do_sample, gc.temperature, gc.top_p = True, 0.6, 0.9
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:  # written beside the target, then renamed into place: no reader sees half a model
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def corpus_from(data_dir: str | Path) -> list[str]:
    """Every string in the JSON and CSV files of a data folder, plus the paper's prompt templates."""
    from . import templates

    paper = [t for t in templates.TEMPLATES.values() if not t.chat]
    # each slot alone too: LLaMA-Factory encodes them separately, so "▁###" starts a piece
    texts = [s for t in paper for s in (t.system, *t.user, *t.system_format) if isinstance(s, str)] * 20
    texts += [templates.render_prompt_text(t, {"instruction": "q", "output": "r"}) for t in paper]
    for path in sorted(Path(data_dir).rglob("*")):
        if path.suffix == ".json":
            texts += _strings(json.loads(path.read_text(encoding="utf-8")))
        elif path.suffix == ".csv":
            texts += path.read_text(encoding="utf-8").splitlines()
    return texts


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder to write the model into (must not exist)")
    ap.add_argument("--data", required=True, help="folder of JSON/CSV files to train the tokenizer on")
    ap.add_argument("--vocab-size", type=int, default=1200)
    args = ap.parse_args(argv)
    if Path(args.out).exists():
        ap.error(f"out={args.out!r} exists: nothing is overwritten; choose a new folder")
    print(build_standin(args.out, corpus_from(args.data), vocab_size=args.vocab_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
