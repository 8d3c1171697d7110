"""ProMoT (Wang et al. 2024, "Two-stage LLM Fine-tuning with Less Specialization and More
Generalization"): a soft prompt takes the task's format, so the model itself has less of it to learn.

1. **Prompt tuning.** The seed stays frozen; a soft prompt (``n`` vectors in the embedding space, put
   before the task's prompts) is trained on the task data.
2. **Fine-tuning with the prompt attached.** The soft prompt is frozen and stays before the task's
   prompts; a LoRA adapter trains on the same data, at SFT's settings.

At inference the soft prompt goes before the task's prompts only; every other skill sees the stage-2
model alone. Without its prompt, the ProMoT model *is* the stage-2 model (:class:`PromptedEmbedding`
changes nothing where there is no placeholder).

The soft prompt rides on placeholder tokens: the task's prompts start with ``n`` copies of one token
id that no text produces (the tokenizer's ``unk``), and :class:`PromptedEmbedding` swaps the
``k``-th placeholder of each sequence for the prompt's ``k``-th vector. The sequences keep their
length, so TRL's trainer, the loss and the generation loop run unchanged.

``runs/<profile>/training/promot-prompt-n<n>-lr<lr>-s<seed>-<hash>/``  stage 1: ``prompt.safetensors``
``runs/<profile>/training/promot-n<n>-lr<lr>-s<seed>-<hash>/``  stage 2: ``adapter/``, ``prompt.safetensors``
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .runs import build_once, key_hash, read_json

STAGE = "training"


class PromptedEmbedding(torch.nn.Module):
    """An input embedding whose placeholder tokens become a soft prompt: in each sequence the ``k``-th
    occurrence of ``placeholder`` is embedded as ``prompt[k]``; every other token as before."""

    def __init__(self, embed: torch.nn.Embedding, prompt: torch.Tensor, placeholder: int, trainable: bool):
        super().__init__()
        self.embed = embed
        self.placeholder = placeholder
        self.prompt = torch.nn.Parameter(prompt.detach().clone().float(), requires_grad=trainable)

    @property
    def weight(self):  # the output layer may be tied to the input embedding
        return self.embed.weight

    def forward(self, input_ids):
        out = self.embed(input_ids)
        where = input_ids == self.placeholder
        if not bool(where.any()):
            return out
        k = (where.cumsum(dim=1) - 1)[where].clamp(max=len(self.prompt) - 1)
        out = out.clone()
        out[where] = self.prompt[k].to(out.dtype)
        return out


def placeholder_id(tokenizer) -> int:
    """The token id the soft prompt rides on: ``unk``, which the tokenizer's byte-level text never
    yields; a tokenizer whose ``unk`` is also its padding, start or end token cannot carry one."""
    unk = tokenizer.unk_token_id
    if unk is None or unk in {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id}:
        raise ValueError("ProMoT needs a token id no text produces (an unk token apart from pad, bos, eos)")
    return int(unk)


def attach(model, prompt: torch.Tensor, placeholder: int, trainable: bool = False):
    """Put ``prompt`` on ``model``'s placeholder tokens (:class:`PromptedEmbedding`); return the model."""
    model.set_input_embeddings(
        PromptedEmbedding(model.get_input_embeddings(), prompt, placeholder, trainable)
    )
    return model


def initial_prompt(model, tokenizer, records: list[dict], n: int, seed: int) -> torch.Tensor:
    """The soft prompt's start: the embeddings of ``n`` tokens drawn from the task's own answers (the
    usual initialisation from vocabulary, here from words the task uses)."""
    import random

    ids = [t for r in records for t in tokenizer(r["output"], add_special_tokens=False)["input_ids"]]
    draw = random.Random(seed).sample(ids, n) if len(ids) >= n else random.Random(seed).choices(ids, k=n)
    with torch.no_grad():
        return model.get_input_embeddings()(torch.tensor(draw)).detach().clone()


def _examples(cfg, tok, records: list[dict], prefix: list[int]) -> list[dict]:
    """Training examples (``templates.train_example``) with the placeholders before each prompt."""
    from .templates import IGNORE_INDEX, train_example

    rows = [train_example(tok, cfg.train_template, r, cfg.cutoff_len, cfg.paper_branch) for r in records]
    return [
        {"input_ids": prefix + r["input_ids"], "labels": [IGNORE_INDEX] * len(prefix) + r["labels"]}
        for r in rows
    ]


def _save_prompt(model, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"prompt": model.get_input_embeddings().prompt.detach().cpu().contiguous()}, str(path))


def load_prompt(run_dir: str | Path) -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(str(Path(run_dir) / "prompt.safetensors"))["prompt"]


def _key(cfg, stage: str, n: int, prompt_lr: float, seed: int) -> dict:
    from .training import train_key

    return {
        "promot_version": 1,
        "stage": stage,
        "tokens": n,
        "prompt_lr": prompt_lr,
        **train_key(cfg, "sft", cfg.learning_rate, cfg.epochs, seed),
    }


def _train(cfg, model, tok, rows, lr: float, seed: int, work: Path) -> tuple[object, float, list]:
    from .hardware import resolve_device
    from .training import make_trainer, training_arguments

    args = training_arguments(cfg, work / "checkpoints", lr, cfg.epochs, seed, resolve_device(cfg), len(rows))
    trainer = make_trainer(model, tok, rows, args)
    t0 = time.time()
    trainer.train()
    import shutil

    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    return trainer, time.time() - t0, [h for h in trainer.state.log_history if "loss" in h]


def train_prompt(cfg, n: int, prompt_lr: float, seed: int) -> Path:
    """Stage 1: the soft prompt of ``n`` vectors trained on the task data at ``prompt_lr`` for the
    run's epochs, the seed frozen (cached like a training run)."""
    from transformers import set_seed

    from .models import load_model
    from .runs import write_json
    from .training import variant_data

    cfg = cfg.replace(finetune="lora")  # the seed is frozen: ``finetune`` plays no part in stage 1
    records, data_path = variant_data(cfg, "sft")
    key = _key(cfg, "prompt", n, prompt_lr, seed)

    def build(work: Path) -> dict:
        set_seed(seed)
        model, tok = load_model(cfg)
        ph = placeholder_id(tok)
        start = initial_prompt(model, tok, records, n, seed)
        for p in model.parameters():
            p.requires_grad_(False)
        attach(model, start, ph, trainable=True)
        rows = _examples(cfg, tok, records, [ph] * n)
        _, secs, history = _train(cfg, model, tok, rows, prompt_lr, seed, work)
        _save_prompt(model, work / "prompt.safetensors")
        write_json(work / "train_log.json", history)
        return {
            "metrics": {
                "train_seconds": round(secs, 2),
                "tokens_trained": round(sum(len(r["input_ids"]) for r in rows) * cfg.epochs),
                "trainable_parameters": start.numel(),
                "final_logged_loss": history[-1]["loss"] if history else None,
            }
        }

    folder = cfg.stage_path(STAGE) / f"promot-prompt-n{n}-lr{prompt_lr:g}-s{seed}-{key_hash(key, 8)}"
    return build_once(folder, key, build, stage=f"{STAGE}/promot-prompt", cfg=cfg, inputs={"data": data_path})


def train_promot(cfg, n: int, prompt_lr: float, seed: int) -> Path:
    """Stage 2: LoRA at SFT's settings on the task data with stage 1's soft prompt attached and frozen
    (cached); the folder holds the adapter and the prompt, and the metrics count both stages."""
    from transformers import set_seed

    from .models import load_model
    from .runs import write_json
    from .training import prepare_model, save_trained, variant_data

    cfg = cfg.replace(finetune="lora")  # stage 2 is the profile's LoRA, whatever ``finetune`` says
    records, data_path = variant_data(cfg, "sft")
    stage1 = train_prompt(cfg, n, prompt_lr, seed)
    key = {
        **_key(cfg, "lora", n, prompt_lr, seed),
        "prompt_run": read_json(stage1 / "manifest.json")["key_hash"],
    }

    def build(work: Path) -> dict:
        import shutil

        set_seed(seed)
        base, tok = load_model(cfg)
        ph = placeholder_id(tok)
        attach(base, load_prompt(stage1), ph, trainable=False)
        model = prepare_model(cfg, base)
        rows = _examples(cfg, tok, records, [ph] * n)
        trainer, secs, history = _train(cfg, model, tok, rows, cfg.learning_rate, seed, work)
        save_trained(trainer, work / "adapter")
        shutil.copy2(stage1 / "prompt.safetensors", work / "prompt.safetensors")
        write_json(work / "train_log.json", history)
        first = read_json(stage1 / "manifest.json")["metrics"]
        return {
            "metrics": {
                "variant": "promot",
                "seed": seed,
                "train_seconds": round(secs + first["train_seconds"], 2),
                "tokens_trained": round(sum(len(r["input_ids"]) for r in rows) * cfg.epochs)
                + first["tokens_trained"],
                "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                "final_logged_loss": history[-1]["loss"] if history else None,
            }
        }

    folder = cfg.stage_path(STAGE) / f"promot-n{n}-lr{prompt_lr:g}-s{seed}-{key_hash(key, 8)}"
    return build_once(folder, key, build, stage=f"{STAGE}/promot", cfg=cfg, inputs={"data": data_path})


def load_promot(cfg, run_dir: str | Path, with_prompt: bool = True):
    """The ProMoT model of a stage-2 run: the seed with its adapter merged and, with ``with_prompt``,
    the soft prompt on the placeholder tokens (a prompt without placeholders sees the model alone)."""
    from peft import PeftModel

    from .models import load_model

    base, tok = load_model(cfg)
    model = PeftModel.from_pretrained(base, Path(run_dir) / "adapter").merge_and_unload().eval()
    if with_prompt:
        attach(model, load_prompt(run_dir), placeholder_id(tok))
    return model, tok


def _placeholders(cfg, n: int) -> list[int]:
    from transformers import AutoTokenizer

    from .models import seed_weights

    return [placeholder_id(AutoTokenizer.from_pretrained(seed_weights(cfg)))] * n


def prompt_tuning_scores(cfg, n: int, prompt_lr: float, seed: int) -> dict:
    """Stage 1 alone, scored: the frozen seed with its trained soft prompt before the task's prompts
    (prompt tuning). Every other skill sees the seed itself, so it keeps exactly the seed's scores."""
    from .evaluation import evaluate_model
    from .models import load_model

    run = train_prompt(cfg, n, prompt_lr, seed)
    key = {"run": run.name, "run_key": read_json(run / "manifest.json")["key_hash"]}

    def load():
        model, tok = load_model(cfg)
        return attach(model.eval(), load_prompt(run), placeholder_id(tok)), tok

    return evaluate_model(cfg, run.name, key, load, task_prefix=_placeholders(cfg, n))


def promot_scores(cfg, n: int, prompt_lr: float, seed: int) -> dict:
    """Train (or reuse) both stages and score the model: the task's prompts carry the soft prompt,
    every other benchmark's do not (cached like any evaluation)."""
    from .evaluation import evaluate_model

    run = train_promot(cfg, n, prompt_lr, seed)
    key = {"run": run.name, "run_key": read_json(run / "manifest.json")["key_hash"]}
    return evaluate_model(
        cfg, run.name, key, lambda: load_promot(cfg, run), task_prefix=_placeholders(cfg, n)
    )


__all__ = [
    "PromptedEmbedding",
    "attach",
    "initial_prompt",
    "load_promot",
    "load_prompt",
    "placeholder_id",
    "promot_scores",
    "prompt_tuning_scores",
    "train_promot",
    "train_prompt",
]
