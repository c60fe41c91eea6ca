"""OpsDb URLs: which backend a string names, and how to show it without its password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from lotus_core.store.errors import OpsDbURLError

Dialect = Literal["sqlite", "postgres"]

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
_URL_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^@/?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
ACCEPTED_FORMS = (
    "sqlite:///relative/path/fabric.sqlite, sqlite:////absolute/path/fabric.sqlite, "
    "postgresql://user[:password]@host[:port]/dbname"
)


@dataclass(frozen=True)
class OpsDbURL:
    """A parsed fabric URL: `target` is the SQLite file path or the libpq URL."""

    dialect: Dialect
    target: str
    display: str


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite fabric at `path` (absolute paths give the four-slash form)."""
    return SQLITE_PREFIX + str(path)


def mask_dsn(dsn: str) -> str:
    """`dsn` with any password replaced by `***`, safe for logs and error messages."""
    dsn = _URL_PASSWORD.sub(r"\1***@", dsn)
    return _QUERY_PASSWORD.sub(r"\1***", dsn)


def parse_url(url: str) -> OpsDbURL:
    """Parse `url` into a backend and target, refusing anything but the accepted forms."""
    if not isinstance(url, str) or not url.strip():
        raise OpsDbURLError(f"empty fabric URL; accepted forms: {ACCEPTED_FORMS}")
    url = url.strip()
    if url.startswith(SQLITE_PREFIX):
        path = url[len(SQLITE_PREFIX) :]
        if not path or path.startswith(":memory:"):
            raise OpsDbURLError(
                f"fabric URL {url!r} names no file (the fabric is shared between processes, "
                f"so it must be one); accepted forms: {ACCEPTED_FORMS}"
            )
        return OpsDbURL("sqlite", path, url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in POSTGRES_SCHEMES:
        try:
            urlsplit(url).port  # noqa: B018 - raises ValueError on a non-numeric port
        except ValueError as exc:
            raise OpsDbURLError(f"malformed PostgreSQL URL {mask_dsn(url)!r}: {exc}") from None
        return OpsDbURL("postgres", url, mask_dsn(url))
    raise OpsDbURLError(
        f"unsupported fabric URL {mask_dsn(url)!r}; accepted forms: {ACCEPTED_FORMS}"
    )
