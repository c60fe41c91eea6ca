"""Errors raised by the fabric, so callers can tell a bad setting from a broken database."""

from __future__ import annotations


class FabricError(Exception):
    """Anything the fabric refuses or cannot do."""


class OpsDbURLError(FabricError, ValueError):
    """The fabric URL is malformed or names an unsupported scheme."""


class OpsDbConnectError(FabricError):
    """The database could not be opened or reached."""


class MigrationError(FabricError):
    """The migrations on disk and the ones recorded in the database disagree."""
