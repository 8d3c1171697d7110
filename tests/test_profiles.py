"""Every shipped profile validates (paper profiles with the paper's data folder when present)."""

from pathlib import Path

import pytest

from sdft_lib.config import ConfigError, available_profiles, load_config
from sdft_lib.runtime import check_paths

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "sdft-paper-data"


@pytest.mark.parametrize("name", available_profiles())
def test_profile_validates(name):
    from sdft_lib.config import DATASETS, read_profile

    if read_profile(name)[1].get("dataset", "teaching") in set(DATASETS) - {"teaching"}:  # the paper's data
        missing = ROOT / "no-such-data-folder"
        with pytest.raises(
            ConfigError, match=f"data_dir='{missing}' is not allowed: that folder does not exist"
        ):
            check_paths(load_config(name, data_dir=str(missing)))  # without the data: one plain line
        if name.startswith("paper/"):  # they expect sail-sg/sdft's data/ folder at ./data
            with pytest.raises(
                ConfigError, match="data_dir='data' is not allowed: that folder does not exist"
            ):
                check_paths(load_config(name))
        if not DATA.is_dir():
            pytest.skip("paper data not available")
        cfg = load_config(name, data_dir=str(DATA))
        if name.startswith("paper/"):
            assert cfg.model == "meta-llama/Llama-2-7b-chat-hf" and cfg.lora_r == 8
            assert cfg.lora_targets == ["q_proj", "v_proj"]
        if name.startswith("paper/") and name != "paper/seed":
            assert cfg.epochs == (5.0 if cfg.dataset in ("gsm8k", "openfunction") else 2.0)
    else:
        load_config(name)


def test_paper_profiles_cover_every_dataset():
    assert {n.split("/")[1] for n in available_profiles() if n.startswith("paper/")} >= {
        "gsm8k",
        "openfunction",
        "alpaca",
        "dolly",
        "lima",
        "magicoder",
        "openhermes",
    }
