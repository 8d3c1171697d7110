"""The fine-tuning stage: vanilla SFT and SDFT through one code path.

Both variants call :func:`train_adapter` with the same hyperparameters and seed; only the data
differs (the original task data for ``sft``, the distilled data for ``sdft``). Training uses peft's
LoRA (or, clearly labelled, full fine-tuning) and TRL's ``SFTTrainer`` with completion-only loss. The
examples reach TRL already tokenized (``input_ids`` + ``completion_mask``) because the paper's templates
are encoded slot by slot as its LLaMA-Factory encodes them (``templates.train_example``), which no
tokenizer call on the joined text reproduces; TRL turns the mask into labels (-100 on the prompt),
pads; :func:`response_loss` computes the loss on the response tokens only (:class:`ResponseLossTrainer`).

``runs/<profile>/training/<variant>-lr<lr>-ep<epochs>-s<seed>-<hash>/`` holds ``adapter/`` (or
``model/`` for full fine-tuning), ``train_log.json`` and ``manifest.json`` (config, data hash,
metrics). A rerun reuses a finished run; an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from .config import RunConfig
from .report import say
from .runs import build_once, key_hash, read_json, write_json

STAGE = "training"
VARIANTS = ("sft", "sdft")


def variant_data(cfg: RunConfig, variant: str) -> tuple[list[dict], Path]:
    """The records a variant trains on (the first ``max_train_examples`` when set, as
    distillation takes them) and the file they came from."""
    from .data import capped, read_records, train_records

    if variant == "sft":
        return train_records(cfg)
    if variant == "sdft":
        from .self_distillation import run_self_distillation

        path = run_self_distillation(cfg) / "distilled.json"
        return capped(cfg, read_records(path)), path
    raise ValueError(f"variant={variant!r} is not allowed: choose one of {', '.join(VARIANTS)}")


def train_key(cfg: RunConfig, variant: str, lr: float, epochs: float, seed: int) -> dict:
    """A fine-tuning run's cache key: the variant, the seed model, every field of
    ``config.ARTIFACT_FIELDS["train"]`` with the run's own learning rate, epochs and seed, and the
    process count (the data file's hash joins it in :func:`train_adapter`)."""
    from .config import artifact_fields
    from .teaching_world.build import seed_identity

    # stage 3: the loss is response_loss (TRL's fused head before; the same loss to float rounding)
    return {
        "stage_version": 3,
        "variant": variant,
        "seed_model": seed_identity(cfg),
        **artifact_fields(cfg, "train"),
        "learning_rate": lr,
        "epochs": epochs,
        "seed": seed,
        # several processes multiply the global batch: a run on 2 is another run than on 1
        **({"processes": _processes()} if _processes() > 1 else {}),
    }


def _processes() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def run_path(cfg: RunConfig, variant: str, lr: float, epochs: float, seed: int) -> Path:
    key = train_key(cfg, variant, lr, epochs, seed)
    return cfg.stage_path(STAGE) / f"{variant}-lr{lr:g}-ep{epochs:g}-s{seed}-{key_hash(key, 8)}"


def sft_dataset(rows: list[dict]):
    """Tokenized examples (``templates.train_example``) as the prompt/completion data TRL's
    ``SFTTrainer`` takes pre-tokenized: ``input_ids`` and a ``completion_mask`` that is 1 on every
    token the loss sees (the responses) and 0 on the prompt."""
    from datasets import Dataset

    from .templates import IGNORE_INDEX

    return Dataset.from_list(
        [
            {
                "input_ids": r["input_ids"],
                "completion_mask": [int(lab != IGNORE_INDEX) for lab in r["labels"]],
            }
            for r in rows
        ]
    )


def response_loss(model, batch: dict, num_items_in_batch=None, lm_head=None):
    """The fine-tuning loss: the mean negative log-likelihood of the response tokens.

    The model runs once over the whole padded batch; only the positions whose *next* token is a
    response token (label not -100) go through the LM head, so the prompt and the padding never
    become (tokens x vocabulary) logits. ``num_items_in_batch`` is the number of response tokens in
    the whole accumulated batch (the trainer counts it), so gradient accumulation averages per token.
    ``lm_head`` is the model's output layer, given when ``model`` is wrapped (DDP).
    """
    import torch

    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch.get("attention_mask"),
        use_cache=False,
        output_hidden_states=True,
        logits_to_keep=1,
    )
    hidden = out.hidden_states[-1][:, :-1]  # after the final norm: what the LM head reads
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    lm_head = lm_head or model.get_output_embeddings()
    logits = lm_head(hidden[keep]).float()
    nll = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
    n = keep.sum() if num_items_in_batch is None else num_items_in_batch
    return nll / torch.as_tensor(n).clamp(min=1)


def _response_loss_trainer():
    from trl import SFTTrainer

    class ResponseLossTrainer(SFTTrainer):
        """TRL's ``SFTTrainer`` with :func:`response_loss` as its loss. TRL's own loss scores every
        position through the LM head on a CPU (its compact path needs Triton): on SmolLM2-135M
        (vocabulary 49,152) a LoRA step took 22.1-22.6 s that way and 11.7-13.6 s this way, on the
        teaching model 0.10-0.12 s and 0.08-0.09 s; the mean loss agrees to 1e-5 (2026-12-01,
        ``benchmarks/train_step.py``)."""

        lr_scales: dict[str, float] | None = None  # per-module factors on the learning rate (TempBalance)

        def create_optimizer(self, model=None):
            """The Trainer's optimizer; with ``lr_scales``, one group per factor, each at its own
            learning rate (:func:`sdft_lib.tempbalance.regroup`)."""
            opt = super().create_optimizer(model)
            if self.lr_scales:
                from .tempbalance import regroup

                named = (self.model if model is None else model).named_parameters()
                self.optimizer = regroup(opt, named, self.lr_scales)
            return self.optimizer

        def floating_point_ops(self, inputs) -> int:
            """The Trainer's estimate (6 x tokens x non-embedding parameters), with the parameters
            counted once: the Trainer counts them at every step (4% of a teaching-model step)."""
            if getattr(self, "_n_params", None) is None:
                self._n_params = self.model.num_parameters(exclude_embeddings=True)
            return 6 * inputs["input_ids"].numel() * self._n_params if "input_ids" in inputs else 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            lm_head = self.accelerator.unwrap_model(model).get_output_embeddings()
            loss = response_loss(model, inputs, num_items_in_batch, lm_head=lm_head)
            # as TRL: the token count spans every process, and DDP averages the gradients
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * (self.accelerator.num_processes // self.get_tp_size())
            return (loss, None) if return_outputs else loss

    return ResponseLossTrainer


def lora_config(cfg: RunConfig):
    from peft import LoraConfig

    targets = cfg.lora_targets[0] if cfg.lora_targets == ["all-linear"] else list(cfg.lora_targets)
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        bias="none",
    )


def prepare_model(cfg: RunConfig, model, seed: int | None = None):
    """Wrap the base model for the configured fine-tuning method: a LoRA adapter (``lora``), every
    weight (``full``), or Half Fine-Tuning's half of them, drawn with the run's ``seed`` (``half``,
    :func:`sdft_lib.hft.freeze_half`)."""
    if cfg.finetune == "lora":
        from peft import get_peft_model

        return get_peft_model(model, lora_config(cfg))
    if cfg.finetune == "half":
        from .hft import freeze_half

        freeze_half(model, cfg.seed if seed is None else seed)
        return model
    for p in model.parameters():  # full fine-tuning: every weight trains
        p.requires_grad_(True)
    return model


def training_arguments(cfg: RunConfig, out: Path, lr: float, epochs: float, seed: int, device: str, n: int):
    """TRL's ``SFTConfig``. TRL's own defaults that differ from transformers' are set back
    explicitly: bf16 only on a GPU that has it, no gradient checkpointing, no truncation (``cutoff_len``
    already cut every example), completion-only loss."""
    import torch
    from trl import SFTConfig

    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    steps_per_epoch = max(1, n // (cfg.batch_size * cfg.grad_accum * _processes()))  # global batches
    return SFTConfig(
        max_length=None,
        completion_only_loss=True,
        packing=False,
        padding_free=False,
        gradient_checkpointing=False,
        shuffle_dataset=False,
        ddp_find_unused_parameters=False,
        output_dir=str(out),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=lr,
        num_train_epochs=epochs,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=0.0,
        logging_steps=max(1, steps_per_epoch // 10),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=max(10, steps_per_epoch // 2),
        save_total_limit=1,
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        bf16=bf16,
        fp16=False,
        report_to="none",
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def make_trainer(model, tokenizer, rows: list[dict], args, lr_scales: dict[str, float] | None = None):
    """The training call: TRL's ``SFTTrainer`` on encoded examples (``templates.train_example``:
    ``input_ids`` with ``labels`` -100 on the prompt), with the loss on response tokens only
    (:func:`response_loss`). ``model`` is the seed with its LoRA adapter attached (``prepare_model``)
    and ``args`` the run's settings (:func:`training_arguments`). ``trainer.train()`` fine-tunes.
    ``lr_scales``: each module's factor on the learning rate (TempBalance's), by module name."""
    from transformers import PrinterCallback

    trainer = _response_loss_trainer()(
        model=model, args=args, train_dataset=sft_dataset(rows), processing_class=tokenizer
    )
    trainer.lr_scales = lr_scales
    trainer.remove_callback(PrinterCallback)  # the loss log is saved to train_log.json instead
    return trainer


def train_adapter(
    cfg: RunConfig,
    variant: str,
    *,
    lr: float | None = None,
    epochs: float | None = None,
    seed: int | None = None,
    callbacks: Sequence | None = None,
    save_steps: int | None = None,
    data: tuple[list[dict], Path] | None = None,
    lr_scales: dict[str, float] | None = None,
) -> Path:
    """Fine-tune the seed on a variant's data (or reuse a finished run); return the run folder.

    ``callbacks`` are extra transformers ``TrainerCallback``s; ``save_steps`` overrides how often a
    checkpoint is written (by default twice an epoch), which is what an interrupted run resumes from.
    ``data`` (records and the file they were read from) trains another variant than ``sft``/``sdft``
    through the same path (the frontier chapter's replay mixes); the file's hash joins the run's key.
    ``lr_scales`` gives each module its own factor on the learning rate (the frontier's TempBalance);
    they join the key, and the folder is named by it.
    """
    lr = cfg.learning_rate if lr is None else lr
    epochs = cfg.epochs if epochs is None else epochs
    seed = cfg.seed if seed is None else seed
    records, data_path = data if data is not None else variant_data(cfg, variant)

    def build(work: Path) -> dict:
        from transformers import set_seed

        from .hardware import resolve_device
        from .models import load_model
        from .templates import train_example

        set_seed(seed)
        device = resolve_device(cfg)
        base, tok = load_model(cfg)
        model = prepare_model(cfg, base, seed)
        rows = [train_example(tok, cfg.train_template, r, cfg.cutoff_len, cfg.paper_branch) for r in records]
        n_tokens = sum(len(r["input_ids"]) for r in rows)
        ckpt_dir = work / "checkpoints"
        args = training_arguments(cfg, ckpt_dir, lr, epochs, seed, device, len(rows))
        if save_steps:
            args.save_steps = save_steps
        trainer = make_trainer(model, tok, rows, args, lr_scales)
        for cb in callbacks or ():
            trainer.add_callback(cb)
        resume = ckpt_dir.is_dir() and any(ckpt_dir.glob("checkpoint-*"))
        if resume:
            say(f"  resuming {variant} from its last checkpoint")
        t0 = time.time()
        trainer.train(resume_from_checkpoint=True if resume else None)
        secs = time.time() - t0
        target = work / ("adapter" if cfg.finetune == "lora" else "model")
        save_trained(trainer, target)
        # the log as the checkpoint kept it (a resumed run's is whole); TRL's running num_tokens restarts
        # from 0 on resume (its counter is not in the checkpoint), so it is left out
        history = [
            {k: v for k, v in h.items() if k != "num_tokens"}
            for h in trainer.state.log_history
            if "loss" in h
        ]
        if trainer.is_world_process_zero():
            write_json(work / "train_log.json", history)
            import shutil

            shutil.rmtree(ckpt_dir, ignore_errors=True)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        return {
            "metrics": {
                "variant": variant,
                "learning_rate": lr,
                "epochs": epochs,
                "seed": seed,
                "examples": len(rows),
                "train_seconds": round(secs, 2),
                "tokens_trained": round(n_tokens * epochs),
                "tokens_per_second": round(n_tokens * epochs / secs, 1) if secs else None,
                "train_loss": _mean_logged_loss(history),
                "final_logged_loss": history[-1]["loss"] if history else None,
                "trainable_parameters": trainable,
                "total_parameters": total,
                "device": device,
                "finetune": cfg.finetune,
            }
        }

    key = train_key(cfg, variant, lr, epochs, seed)
    folder = run_path(cfg, variant, lr, epochs, seed)
    if lr_scales:
        key = {**key, "lr_scales": {k: round(v, 6) for k, v in sorted(lr_scales.items())}}
        folder = folder.with_name(f"{variant}-lr{lr:g}-ep{epochs:g}-s{seed}-{key_hash(key, 8)}")
    return build_once(
        folder,
        key,
        build,
        stage=f"{STAGE}/{variant}",
        cfg=cfg,
        inputs={"data": data_path},
        collective=True,
    )


def train_variants(cfg: RunConfig, variants: Sequence[str] = VARIANTS) -> dict[str, Path]:
    """Fine-tune each variant at the run's setting; return their run folders. The runs are independent,
    so they are built side by side where that is faster (:mod:`sdft_lib.parallel`)."""
    from .parallel import prebuild

    prebuild(cfg, [("sdft_lib.training:train_adapter", {"variant": v}) for v in variants])
    return {v: train_adapter(cfg, v) for v in variants}


def save_trained(trainer, target: Path) -> None:
    """Save a run's adapter (or model) and tokenizer through the Trainer: under FSDP it gathers the
    sharded weights first, and under several processes only the main one writes. The pickled
    arguments (with paths) are dropped and the adapter config is written in a stable order."""
    trainer.save_model(str(target))
    if trainer.is_world_process_zero():
        (target / "training_args.bin").unlink(missing_ok=True)
        _stable_adapter_config(target)


def _mean_logged_loss(history: list[dict]) -> float | None:
    """The mean training loss over the logged steps, each log weighted by the steps it averages.
    (The Trainer's own ``training_loss`` counts only the steps of the last process: after a resume
    it is the mean of the resumed part.)"""
    total, last = 0.0, 0
    for h in history:
        total += h["loss"] * (h["step"] - last)
        last = h["step"]
    return round(total / last, 4) if last else None


def _stable_adapter_config(folder: Path) -> None:
    """PEFT writes ``target_modules`` from a set, in an order that changes with each process's hash
    seed; sorted, two identical runs save identical files."""
    path = folder / "adapter_config.json"
    if path.is_file():
        conf = read_json(path)
        if isinstance(conf.get("target_modules"), list):
            conf["target_modules"] = sorted(conf["target_modules"])
            write_json(path, conf)


def finetuned_weights(cfg: RunConfig, run_dir: str | Path) -> tuple[str, Path | None]:
    """(base model, LoRA adapter folder or None) of a training run: the seed plus the adapter, or
    the run's own full model. What lm-eval's ``pretrained=`` / ``peft=`` take."""
    from .models import seed_weights

    run_dir = Path(run_dir)
    if (run_dir / "model").is_dir():
        return str(run_dir / "model"), None
    return seed_weights(cfg), run_dir / "adapter"


def load_finetuned(cfg: RunConfig, run_dir: str | Path, merge: bool = False):
    """The fine-tuned model of a run: base + LoRA adapter (merged if asked), or the full model."""
    from .models import load_model

    base_path, adapter = finetuned_weights(cfg, run_dir)
    if adapter is None:
        return load_model(cfg, path=base_path)
    from peft import PeftModel

    base, tok = load_model(cfg, path=base_path)
    model = PeftModel.from_pretrained(base, adapter).eval()
    return (model.merge_and_unload().eval() if merge else model), tok


def run_metrics(run_dir: str | Path) -> dict:
    return read_json(Path(run_dir) / "manifest.json")["metrics"]


def train_log(run_dir: str | Path) -> list[dict]:
    return read_json(Path(run_dir) / "train_log.json")


def sweep(
    cfg: RunConfig,
    variants: Sequence[str] = VARIANTS,
    lrs: Iterable[float] | None = None,
    epochs: Iterable[float] | None = None,
    seeds: Iterable[int] | None = None,
) -> list[dict]:
    """Train every (variant, lr, epochs, seed) of the grid, reusing finished runs; return their metrics.

    Every variant gets the same grid and the same seeds, so SFT and SDFT are compared like for like.
    """
    lrs = list(lrs or cfg.sweep_lrs or [cfg.learning_rate])
    epochs = list(epochs or cfg.sweep_epochs or [cfg.epochs])
    seeds = list(seeds or cfg.ft_seeds or [cfg.seed])
    out = []
    for lr in lrs:
        for ep in epochs:
            for s in seeds:
                for v in variants:
                    path = train_adapter(cfg, v, lr=lr, epochs=ep, seed=s)
                    out.append({**run_metrics(path), "path": str(path)})
    return out
