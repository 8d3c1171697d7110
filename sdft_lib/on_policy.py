"""On-policy self-distillation (Shenfeld et al. 2026) through TRL's ``SDFTTrainer``.

The student answers the task's prompt alone, sampling its own completion; the teacher is the same
model shown the prompt *and* the demonstration (the dataset's answer), and the student is trained
towards the teacher's next-token distribution on the student's own tokens. Settings are those the
authors report having run, which differ from TRL's defaults:

=========================  ===========================  ====================================
setting                    the authors' run (here)      TRL 1.16.0's default
=========================  ===========================  ====================================
divergence                 forward KL(teacher||student) ``distillation_alpha=0.5`` (a mix)
                           (``distillation_alpha=0``)
support                    full logits                  top-100 logits
teacher                    EMA of the student, rate     the frozen base model (``base``)
                           0.01 (``ema``, ``0.01``)     (EMA rate default 0.05)
=========================  ===========================  ====================================

A run is saved like :func:`sdft_lib.training.train_adapter`'s (``adapter/``, ``train_log.json``,
metrics in the manifest), so the evaluation stage scores it like any other run. The frontier
chapter (``notebooks/07_frontier.ipynb``) trains it beside SFT, SDFT and replay.

In the teaching world the teacher's prompt is the world's rewrite prompt (the one self-distillation
sends): the tiny seed learned to use a reference answer in that form only (:func:`teacher_records`).
"""

from __future__ import annotations

import time
from pathlib import Path

from .config import RunConfig
from .runs import build_once, key_hash, write_json
from .teaching_world.world import DISTILL_SYSTEM, distill_user_message

STAGE = "training"
VARIANT = "onpolicy"
# The authors' settings (see the table above); each differs from TRL's default.
AUTHORS = {
    "distillation_alpha": 0.0,
    "distillation_mode": "full_logits",
    "teacher_model_kind": "ema",
    "teacher_update_rate": 0.01,
}
TEACHER_TEMPLATE = "{prompt}\n\n{privileged_context}"
DEMONSTRATION = "Here is an example of a correct answer:\n{output}\nNow answer in your own words."


def teacher_records(records: list[dict], world: bool = False) -> list[dict]:
    """TRL's dataset: the student's prompt (a chat turn) and the demonstration the teacher sees.

    ``world=True`` (the teaching world): the teacher's turn is the world's own rewrite prompt, the
    one self-distillation sends (question and reference answer; :func:`world_teacher` adds its
    system turn): the teaching seed learned to read a reference in that form and no other, as a
    real chat model reads the authors' free-text demonstration."""
    rows = []
    for r in records:
        question = r["instruction"] + (f"\n{r['input']}" if r.get("input") else "")
        context = (
            distill_user_message(question, r["output"]) if world else DEMONSTRATION.format(output=r["output"])
        )
        rows.append({"prompt": [{"role": "user", "content": question}], "privileged_context": context})
    return rows


def world_teacher(trainer):
    """TRL's teacher-prompt builder, for the teaching world: the teacher's turns are the rewrite
    system turn and the rewrite prompt (``privileged_context``), exactly self-distillation's prompt
    (TRL's template, which puts the question in front, is not used)."""
    from trl.experimental.sdft.sdft_trainer import DemonstrationTeacherContextBuilder

    class WorldTeacher(DemonstrationTeacherContextBuilder):
        def _compose_teacher_prompt(self, prompt, privileged_context):
            return [
                {"role": "system", "content": DISTILL_SYSTEM},
                {"role": "user", "content": self._stringify_privileged_context(privileged_context)},
            ]

    return WorldTeacher(trainer)


def on_policy_config(cfg: RunConfig, out: Path, lr: float, epochs: float, seed: int, device: str):
    """TRL's ``SDFTConfig`` with the authors' settings, one sampled completion per prompt, and the
    book's CPU-safe flags (no bf16 on a CPU, no reporting, no gradient checkpointing)."""
    import torch
    from trl.experimental.sdft import SDFTConfig

    return SDFTConfig(
        output_dir=str(out),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        num_generations=1,
        max_completion_length=cfg.max_new_tokens,
        max_prompt_length=cfg.cutoff_len,
        temperature=1.0,
        learning_rate=lr,
        num_train_epochs=epochs,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        bf16=device == "cuda" and torch.cuda.is_bf16_supported(),
        fp16=False,
        report_to="none",
        gradient_checkpointing=False,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        teacher_prompt_template=TEACHER_TEMPLATE,
        **AUTHORS,
    )


def on_policy_key(cfg: RunConfig, lr: float, epochs: float, seed: int) -> dict:
    """An on-policy run's cache key: a fine-tuning run's (:func:`training.train_key`), the authors'
    settings and the teacher's prompt, and ``config.ARTIFACT_FIELDS["on_policy"]``."""
    from .config import artifact_fields
    from .training import train_key

    teacher = (
        {"template": "world rewrite prompt", "system": DISTILL_SYSTEM}
        if cfg.is_teaching
        else {"template": TEACHER_TEMPLATE, "demonstration": DEMONSTRATION}
    )
    return {
        **train_key(cfg, VARIANT, lr, epochs, seed),
        "on_policy": dict(AUTHORS, **teacher),
        **artifact_fields(cfg, "on_policy"),
    }


def train_on_policy(
    cfg: RunConfig,
    *,
    lr: float | None = None,
    epochs: float | None = None,
    seed: int | None = None,
) -> Path:
    """Train (or reuse) one on-policy self-distillation LoRA run on the task; return its folder."""
    from .data import train_records
    from .training import lora_config, run_path, save_trained

    lr = cfg.learning_rate if lr is None else lr
    epochs = cfg.epochs if epochs is None else epochs
    seed = cfg.seed if seed is None else seed
    records, source = train_records(cfg)
    key = on_policy_key(cfg, lr, epochs, seed)
    path = run_path(cfg, VARIANT, lr, epochs, seed).with_name(
        f"{VARIANT}-lr{lr:g}-ep{epochs:g}-s{seed}-{key_hash(key, 8)}"
    )

    def build(work: Path) -> dict:
        from datasets import Dataset
        from transformers import PrinterCallback, set_seed
        from trl.experimental.sdft import SDFTTrainer

        from .hardware import resolve_device
        from .models import load_model

        set_seed(seed)
        device = resolve_device(cfg)
        model, tok = load_model(cfg)
        model.train()
        args = on_policy_config(cfg, work / "checkpoints", lr, epochs, seed, device)
        data = teacher_records(records, world=cfg.is_teaching)
        trainer = SDFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(data),
            processing_class=tok,
            peft_config=lora_config(cfg),
        )
        if cfg.is_teaching:
            trainer.teacher_context_builder = world_teacher(trainer)
        trainer.remove_callback(PrinterCallback)
        t0 = time.time()
        trainer.train()
        secs = time.time() - t0
        save_trained(trainer, work / "adapter")
        history = [h for h in trainer.state.log_history if "loss" in h]
        if trainer.is_world_process_zero():
            write_json(work / "train_log.json", history)
        generated = sum(
            h.get("completions/mean_length", 0) * args.per_device_train_batch_size for h in history
        )
        prompts = sum(
            len(
                tok(
                    tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False),
                    add_special_tokens=False,
                )["input_ids"]
            )
            for r in data
        )
        return {
            "metrics": {
                "variant": VARIANT,
                "learning_rate": lr,
                "epochs": epochs,
                "seed": seed,
                "examples": len(records),
                "train_seconds": round(secs, 2),
                "tokens_generated": round(generated),
                # the student's sequences: its prompts and its own sampled answers
                "tokens_trained": round(prompts * epochs + generated),
                "device": device,
                "finetune": "lora",
                "final_logged_loss": history[-1]["loss"] if history else None,
            }
        }

    return build_once(path, key, build, stage=f"{STAGE}/{VARIANT}", cfg=cfg, inputs={"data": source})


__all__ = ["AUTHORS", "on_policy_config", "teacher_records", "train_on_policy", "world_teacher"]
