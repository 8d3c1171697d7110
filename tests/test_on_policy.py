"""On-policy self-distillation through TRL's SDFTTrainer (sdft_lib.on_policy): the teacher's prompt,
the direction of the loss, the authors' settings, and one short run on the smallest profile."""

import json

import pytest
import torch

from sdft_lib.config import load_config
from sdft_lib.on_policy import AUTHORS, on_policy_config, teacher_records


def test_the_settings_are_the_authors_and_differ_from_trls_defaults(tmp_path):
    from trl.experimental.sdft import SDFTConfig

    cfg = load_config("smoke")
    ours = on_policy_config(cfg, tmp_path, 1e-3, 1.0, 0, "cpu")
    trl = SDFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none")
    assert (
        ours.distillation_alpha,
        ours.distillation_mode,
        ours.teacher_model_kind,
        ours.teacher_update_rate,
    ) == (0.0, "full_logits", "ema", 0.01)
    for name, value in AUTHORS.items():
        assert getattr(trl, name) != value, (
            f"TRL's default {name} now equals the authors' setting: update the docs"
        )


def test_alpha_zero_is_the_forward_kl_teacher_to_student():
    from trl.experimental.sdft.loss_utils import compute_full_logit_self_distillation_loss

    torch.manual_seed(0)
    student, teacher = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    got = compute_full_logit_self_distillation_loss(student, teacher, distillation_alpha=0.0)
    p, q = teacher.softmax(-1), student.softmax(-1)
    forward = (p * (p.log() - q.log())).sum(-1)  # KL(teacher || student)
    reverse = (q * (q.log() - p.log())).sum(-1)
    assert torch.allclose(got, forward, atol=1e-5) and not torch.allclose(got, reverse, atol=1e-3)


def test_the_teacher_sees_the_prompt_and_the_demonstration_the_student_does_not(tmp_path, tiny_tokenizer):
    from trl.experimental.sdft.sdft_trainer import DemonstrationTeacherContextBuilder

    rec = {"instruction": "What is 6 times 7?", "input": "", "output": "6*7=<<6*7=42>>42\n#### 42"}
    [row] = teacher_records([rec])
    assert row["prompt"] == [{"role": "user", "content": "What is 6 times 7?"}]  # the student: prompt alone

    class Trainer:  # the attributes the builder reads
        args = on_policy_config(load_config("smoke"), tmp_path, 1e-3, 1.0, 0, "cpu")

    teacher = DemonstrationTeacherContextBuilder(Trainer())._compose_teacher_prompt(
        row["prompt"], row["privileged_context"]
    )
    assert teacher[-1]["role"] == "user"
    assert teacher[-1]["content"].startswith("What is 6 times 7?") and "#### 42" in teacher[-1]["content"]


def test_in_the_teaching_world_the_teacher_sees_self_distillations_prompt(tmp_path):
    """The tiny seed reads a reference only in the world's rewrite form: the teacher's turns are the
    rewrite system turn and the rewrite prompt, exactly what self-distillation sends."""
    from sdft_lib.on_policy import world_teacher
    from sdft_lib.teaching_world.world import DISTILL_SYSTEM, distill_user_message

    rec = {"instruction": "What is 6 times 7?", "input": "", "output": "6*7=<<6*7=42>>42\n#### 42"}
    [row] = teacher_records([rec], world=True)
    assert row["prompt"] == [{"role": "user", "content": "What is 6 times 7?"}]
    assert "42" not in row["prompt"][0]["content"].replace("6 times 7", "")

    class Trainer:
        args = on_policy_config(load_config("smoke"), tmp_path, 1e-3, 1.0, 0, "cpu")

    turns = world_teacher(Trainer())._compose_teacher_prompt(row["prompt"], row["privileged_context"])
    assert turns == [
        {"role": "system", "content": DISTILL_SYSTEM},
        {"role": "user", "content": distill_user_message("What is 6 times 7?", rec["output"])},
    ]


@pytest.mark.slow
def test_a_short_run_trains_saves_and_loads(tmp_path, monkeypatch):
    from sdft_lib import on_policy
    from sdft_lib.on_policy import train_on_policy
    from sdft_lib.teaching_world.world import DISTILL_SYSTEM
    from sdft_lib.training import load_finetuned

    seen = []
    real = on_policy.world_teacher

    def spy(trainer):  # records the teacher prompts the trainer really builds
        builder = real(trainer)
        compose = builder._compose_teacher_prompt
        builder._compose_teacher_prompt = lambda p, c: seen.append(compose(p, c)) or seen[-1]
        return builder

    monkeypatch.setattr(on_policy, "world_teacher", spy)
    cfg = load_config(
        "smoke", run_dir=str(tmp_path), task_train_size=16, epochs=1.0, batch_size=4, max_new_tokens=16
    )
    run = train_on_policy(cfg)
    assert len(seen) == 16 and all(t[0] == {"role": "system", "content": DISTILL_SYSTEM} for t in seen)
    log = json.loads((run / "train_log.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(log) == 4 and all(h["loss"] >= 0 for h in log)
    assert (
        manifest["metrics"]["variant"] == "onpolicy"
        and manifest["key"]["on_policy"]["teacher_update_rate"] == 0.01
    )
    m = manifest["metrics"]
    assert 0 < m["tokens_generated"] <= 16 * 16
    assert (
        m["tokens_trained"] - m["tokens_generated"] >= 16 * 5
    )  # every prompt's tokens count (a chat turn: 5+)
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    load_finetuned(cfg, run)  # the saved adapter loads
    assert train_on_policy(cfg) == run  # reused
