"""Defaults the router, the daemon, the CLI and the Dagster sensors share, named once.

`STALE_AFTER_SEC`: a component whose last live heartbeat is older counts as stale. Routers
and the daemon beat about once a second, so 30 s means many missed beats; `lotus status`,
`lotus daemon status`, the herald watch sensor and the daemon health sensor all use it
(before, `lotus status` said 60 s while the sensors said 30 s).
"""

ROUTER_NAME = "herald"       # heartbeat component of the router; routers sharing it share a row
ROUTER_BATCH_SIZE = 500      # outbox rows claimed per pass
STALE_AFTER_SEC = 30.0
