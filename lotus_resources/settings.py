"""The code location's one `Settings`, as a resource (key `settings`).

`build_definitions(settings)` puts the settings it was given here, so an asset or op reads
the same validated object the entry point built (`lotus --config F materialize`, the
definitions of `dg dev`, a worker's `load_definitions`) and never re-reads a file. Held as
its JSON (a resource's fields are Dagster config); parsed once per process.
"""

from __future__ import annotations

from functools import lru_cache

import dagster as dg

from lotus_core.config import Settings


@lru_cache(maxsize=8)
def _parse(text: str) -> Settings:
    return Settings.model_validate_json(text)


class SettingsResource(dg.ConfigurableResource):
    """The validated settings of the code location."""

    settings_json: str

    @classmethod
    def of(cls, settings: Settings) -> SettingsResource:
        return cls(settings_json=settings.model_dump_json())

    def get(self) -> Settings:
        return _parse(self.settings_json)
