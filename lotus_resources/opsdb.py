"""The operational database (OpsDb) as a Dagster resource: SQLite by default, or PostgreSQL."""


from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from lotus_core.store.opsdb import OpsDb


class OpsDbResource(dg.ConfigurableResource):
    """`url` is sqlite:///path or postgresql://user@host:port/db."""

    url: str

    @contextmanager
    def open(self) -> Iterator[OpsDb]:
        fabric = OpsDb.open(self.url)
        try:
            yield fabric
        finally:
            fabric.close()
