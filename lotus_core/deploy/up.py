"""Bringing a profile's fabric up: migrate it, and on PostgreSQL create the module roles and
apply row-level security (lotus_core.fabric.security). Safe to re-run: both converge."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lotus_core.fabric.manifests import ModuleRegistry
from lotus_core.fabric.security import apply_security, roles
from lotus_core.store.opsdb import OpsDb
from lotus_core.store.url import mask_dsn


@dataclass(frozen=True)
class OpsDbUp:
    url: str  # masked
    dialect: str
    security_statements: int  # 0 on SQLite (one local owner; no roles to separate)
    roles: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def prepare_opsdb(url: str, *, registry: ModuleRegistry) -> OpsDbUp:
    """Migrate the fabric at `url`; on PostgreSQL apply the module roles and RLS of
    `registry` (the manifests the caller loaded)."""
    with OpsDb.open(url) as fabric:
        if fabric.dialect != "postgres":
            return OpsDbUp(mask_dsn(url), fabric.dialect, 0, ())
        applied = apply_security(fabric, registry=registry)
        return OpsDbUp(mask_dsn(url), fabric.dialect, applied, roles())
