"""The Curator API service (docs/curator_api.md): a Starlette app served by
uvicorn (`lotus curator serve`) over the pure core in `lotus_core.curator_api`.

    app.py         routes, request verification, JSON errors
    routes_vis.py  POST /charts: a signed chart image in, a vis strand out (docs/vision.md)
    pool.py        a few fabric connections shared by the worker threads
    server.py      uvicorn: in the foreground (the CLI) or in a thread (tests)
    client.py      a signing httpx client (tests, scripts, other tools)
"""

import lotus_core  # noqa: F401 - before pyarrow loads: Arrow's memory pool (lotus_core's docstring)
