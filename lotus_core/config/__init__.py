"""Lotus settings: the typed models' defaults, then lotus.yaml, then LOTUS_* variables, then
CLI flags."""

from lotus_core.config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
