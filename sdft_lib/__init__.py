"""sdft-book: Self-Distillation Fine-Tuning as a runnable book (helper library)."""

from .config import ConfigError, RunConfig, config_from_namespace, load_config

__all__ = ["ConfigError", "RunConfig", "config_from_namespace", "load_config"]
__version__ = "0.1.0"
