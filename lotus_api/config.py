"""What every route of the Curator API is given: the app's configuration, built once by the
entry point (CLI or test), and its logger. Its own module so route modules (routes_vis.py)
and the app that mounts them import it without importing each other."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lotus_api.pool import FabricPool
from lotus_core.curator_api.auth import DEFAULT_SKEW_MS, NonceCache
from lotus_core.curator_api.keys import Curator
from lotus_core.curators.config import CouncilConfig

log = logging.getLogger("lotus_api")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ApiConfig:
    """What the app needs, built once by the entry point (CLI or test)."""

    pool: FabricPool
    curators: Mapping[str, Curator]
    council: CouncilConfig
    lake_root: Path | None = None
    home: Path | None = None  # LOTUS_HOME for charts; default: lake_root's parent (home/lake)
    skew_ms: int = DEFAULT_SKEW_MS
    clock: Callable[[], int] = now_ms
    nonces: NonceCache = field(init=False)

    def __post_init__(self) -> None:
        self.nonces = NonceCache(self.skew_ms)
        if self.home is None and self.lake_root is not None:
            self.home = Path(self.lake_root).parent
