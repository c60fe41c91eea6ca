"""Opening the fabric as a module's or the router's role, which may not migrate it.

`OpsDb.open` applies pending migrations, which needs the owner's rights. A process
connected as lotus_sig (say) opens with `open_opsdb(url, migrate=False)`: no DDL, but a
check that the database is at the schema version this code was written for.
"""

from __future__ import annotations

from lotus_core.store.connection import connect
from lotus_core.store.errors import FabricError
from lotus_core.store.migrations import default_sql_dir, discover
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import parse_url


def open_opsdb(url: str, *, migrate: bool = True, connect_timeout_s: int = 10) -> OpsDb:
    """An OpsDb on `url`; with migrate=False, refuse a database at another schema version."""
    if migrate:
        return OpsDb.open(url, connect_timeout_s=connect_timeout_s)
    parsed = parse_url(url)
    fabric = OpsDb(connect(parsed, 30.0, connect_timeout_s), parsed)
    try:
        want = discover(default_sql_dir(), parsed.dialect)[-1].version
        try:
            have = fabric.schema_version()
        except Exception as exc:  # no schema_version table, or no right to read it
            raise FabricError(
                f"cannot read the schema version of {parsed.display}: {exc}; the owner must "
                "open it once (OpsDb.open) and run apply_security"
            ) from exc
        if have != want:
            raise FabricError(
                f"{parsed.display} is at schema version {have}, this code needs {want}; "
                "the owner must migrate it (OpsDb.open)"
            )
    except BaseException:
        fabric.close()
        raise
    return fabric
