"""The coin list's one default: `coins:` of lotus_core/config/defaults.yaml.

Every per-coin setting (`feed.coins`, `dm.coins`, each trader venue's `symbols`,
`fixtures.coins`) and the few code defaults that name coins (the synthetic windows, the
fabric's example envelopes) start from this list. It is read from the file by path, not
through `lotus_core.config`: that package's settings hold the sections that default to it,
so importing it from them would be a cycle. `Settings` (lotus_core/config/settings.py)
fills and checks the sections against the loaded `coins:`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lotus_core.yaml_io import parse_yaml

DEFAULTS = Path(__file__).resolve().parent / "config" / "defaults.yaml"


@cache
def default_coins() -> tuple[str, ...]:
    """The packaged default coin list (`coins:` of defaults.yaml)."""
    return tuple(str(c) for c in parse_yaml(DEFAULTS.read_text())["coins"])
