"""`POST /charts`: a chart image in, a `vis` strand out (docs/vision.md, docs/curator_api.md).

The body is the image's raw bytes; `coin`, `at` and `note` are query parameters. The
signature covers the method, path, query and, as its body, `{"chart_hash": "sha256:<hex>",
"bytes": n}` of the bytes sent: the server hashes what it received, so a changed byte is a
bad signature. Then `lotus_core.vis.intake.accept_chart` (what `lotus vis submit` and the
inbox sensor call) checks, stores, reads and records it. Answers: 201 the new strand, 200
the strand these bytes with this coin, time and note already are; 400 `empty_file`,
`bad_coin`, `bad_at`, `bad_note`, `bad_query`; 401 as every signed route; 413
`too_large`, `too_many_pixels`; 415 `not_png_or_jpeg`; 422 `corrupt_image`; 503
`ocr_unavailable`, `no_home`. Any enrolled curator may submit, in any role it holds; the
curator, role, signed time and signature are kept in the reading file (`source`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import anyio.to_thread
import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse

from lotus_api.config import ApiConfig, log
from lotus_core.curator_api.auth import Signed, verify_request
from lotus_core.curator_api.rules import Refused
from lotus_core.vis.ingest import MAX_BYTES, ChartRefused
from lotus_core.vis.intake import accept_chart, chart_body, parse_coin
from lotus_core.vis.ocr import OcrUnavailable

STATUS = {"too_large": 413, "too_many_pixels": 413, "not_png_or_jpeg": 415,
          "corrupt_image": 422}  # every other refusal (empty, coin, time, note) is 400
QUERY = ("coin", "at", "note")


async def _read(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        raise Refused(413, "too_large", f"request body of {declared} bytes; a chart is at "
                      f"most {MAX_BYTES}")
    buf = bytearray()
    async for chunk in request.stream():
        buf.extend(chunk)
        if len(buf) > MAX_BYTES:
            raise Refused(413, "too_large", f"request body over {MAX_BYTES} bytes; a chart "
                          f"is at most {MAX_BYTES}")
    return bytes(buf)


def _submit(cfg: ApiConfig, who: Signed, data: bytes, query: dict[str, str]) -> JSONResponse:
    if cfg.home is None:
        raise Refused(503, "no_home", "the API was started without a LOTUS_HOME to keep "
                      "charts in")
    source = {"via": "api", "curator": who.curator_id, "role": who.role, "ts": who.ts_ms,
              "nonce": who.nonce, "sig": who.sig}
    try:
        with cfg.pool.lend() as fabric:
            res = accept_chart(fabric, cfg.home, data, coin=query.get("coin"),
                               at=query.get("at"), note=query.get("note"), source=source)
    except ChartRefused as exc:
        raise Refused(STATUS.get(exc.code, 400), exc.code, str(exc)) from None
    except OcrUnavailable as exc:
        raise Refused(503, "ocr_unavailable", str(exc)) from None
    r = res.reading
    log.info("chart %s %s as vis_strand %s by %s/%s", res.chart_hash,
             "found" if res.duplicate else "recorded", res.strand_id, who.curator_id, who.role)
    return JSONResponse({
        "strand_id": res.strand_id, "chart_hash": res.chart_hash, "duplicate": res.duplicate,
        "kind": "analysis" if r.status == "read" else "unreadable", "reason": r.reason,
        "symbol": parse_coin(query.get("coin")) or (r.symbol if r.symbol_conf >= 0.5 else None),
        "timeframe": r.timeframe, "confidence": r.confidence,
        "pattern_flags": r.pattern_flags}, status_code=200 if res.duplicate else 201)


def post_chart(cfg: ApiConfig) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The route: verify the signature over the bytes' hash, then submit in a thread."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            data = await _read(request)
            query = list(request.query_params.multi_items())
            unknown = sorted({k for k, _ in query} - set(QUERY))
            who = verify_request(
                cfg.curators, cfg.nonces, headers=request.headers, method=request.method,
                path=request.scope["path"], query=query, body=chart_body(data),
                now_ms=cfg.clock(), skew_ms=cfg.skew_ms)
            if unknown:
                raise Refused(400, "bad_query", f"unknown parameter(s) {unknown}; a chart takes "
                              f"{list(QUERY)}")
            return await anyio.to_thread.run_sync(partial(_submit, cfg, who, data, dict(query)))
        except psycopg.errors.InsufficientPrivilege as exc:
            return JSONResponse({"error": "refused_by_database", "reason": "the database "
                                 f"refused the strand: {str(exc).splitlines()[0]}"},
                                status_code=403)
        except Refused as refused:
            log.info("refused POST /charts: %s %s (%s)", refused.status, refused.code,
                     request.headers.get("x-lotus-curator"))
            return JSONResponse(refused.as_json(), status_code=refused.status)

    return endpoint
