"""YAML text parsed once: the settings and specs are read by every stage of every run, and
PyYAML's pure-Python parser took seconds a day of it. libyaml's loader (shipped inside the
PyYAML wheel) parses the same safe subset; a text seen before is answered from a cache
with a deep copy, so no caller can change another's parse."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=256)
def _parsed(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader


def parse_yaml(text: str) -> Any:
    """`yaml.safe_load(text)`, cached by text (raises yaml.YAMLError on bad YAML)."""
    return copy.deepcopy(_parsed(text))
