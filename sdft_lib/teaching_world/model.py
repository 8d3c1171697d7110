"""The teaching model: a real tokenizer and a small ``LlamaForCausalLM``, trained from scratch.

Saved with ``save_pretrained`` (safetensors), the result loads with ``AutoTokenizer`` /
``AutoModelForCausalLM``, peft, lm-eval's HFLM and vLLM exactly as Llama-2-7b-chat does.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..chat import LLAMA2_CHAT_TEMPLATE
from ..templates import collator, train_example

SPECIAL = {"unk": "<unk>", "bos": "<s>", "eos": "</s>", "pad": "<pad>"}


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Byte-level BPE with every digit its own token; returned as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk"]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL["bos"],
        eos_token=SPECIAL["eos"],
        unk_token=SPECIAL["unk"],
        pad_token=SPECIAL["pad"],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    hf.chat_template = LLAMA2_CHAT_TEMPLATE
    return hf


@dataclass
class ModelSpec:
    """The seed model's shape (the run's ``model_*`` parameters); ``max_len`` positions."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    dropout: float = 0.0
    max_len: int = 256


def build_model(tokenizer, spec: ModelSpec, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden,
        intermediate_size=spec.ffn,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=spec.max_len,
        attention_dropout=spec.dropout,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
    )
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def length_grouped_batches(
    lengths: list[int], batch_size: int, rng: random.Random, group: int = 50
) -> list[list[int]]:
    """Shuffle, then sort within mega-batches of ``group`` batches: little padding, still random."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    mega = batch_size * group
    batches = []
    for s in range(0, len(idx), mega):
        chunk = sorted(idx[s : s + mega], key=lambda i: lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def train_from_scratch(
    model,
    tokenizer,
    records: list[dict],
    *,
    epochs: float,
    batch_size: int,
    lr: float,
    warmup: int,
    weight_decay: float = 0.1,
    bf16: bool,
    seed: int,
    log_every: int = 20,
    progress: Callable | None = None,
) -> list[dict]:
    """Train ``model`` on chat records (loss on response tokens) and return the loss log.

    A plain loop on purpose: it is the from-scratch pre-training of a toy model, a dozen lines a
    reader can follow. Fine-tuning (the paper's LoRA stage) uses peft and the transformers Trainer.
    """
    from transformers import get_cosine_schedule_with_warmup

    rng = random.Random(seed)
    torch.manual_seed(seed)
    enc = [train_example(tokenizer, "chat", r, cutoff=model.config.max_position_embeddings) for r in records]
    lengths = [len(e["input_ids"]) for e in enc]
    steps_per_epoch = math.ceil(len(enc) / batch_size)
    total = max(1, int(steps_per_epoch * epochs))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, warmup, total)
    collate = collator(tokenizer.pad_token_id)
    model.train()
    log, step, t0, tokens = [], 0, time.time(), 0
    while step < total:
        for batch_idx in length_grouped_batches(lengths, batch_size, rng):
            if step >= total:
                break
            batch = collate([enc[i] for i in batch_idx])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and model.device.type == "cpu"):
                loss = model(**{k: v.to(model.device) for k, v in batch.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            tokens += int(batch["attention_mask"].sum())
            step += 1
            if step % log_every == 0 or step == total:
                entry = {
                    "step": step,
                    "loss": loss.item(),
                    "lr": sched.get_last_lr()[0],
                    "seconds": round(time.time() - t0, 2),
                    "tokens": tokens,
                }
                log.append(entry)
                if progress:
                    progress(entry, total)
    model.eval()
    return log
