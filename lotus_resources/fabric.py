"""The fabric (operational database) as a Dagster resource: SQLite by default, or PostgreSQL."""


from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from lotus_core.store.fabric import Fabric


class FabricResource(dg.ConfigurableResource):
    """`url` is sqlite:///path or postgresql://user@host:port/db."""

    url: str

    @contextmanager
    def open(self) -> Iterator[Fabric]:
        fabric = Fabric.open(self.url)
        try:
            yield fabric
        finally:
            fabric.close()
