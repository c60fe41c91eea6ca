-- The paper Trader's working records (issue 12; docs/trader.md): orders, fills, positions
-- and the engine's snapshot, written in the same transaction as the inbox row or market
-- event that changed them, so a restart (even after kill -9) resumes exactly where the last
-- commit left off and no fill is applied twice (trader_fills.fill_id is the fill's identity).
-- Owned by tr (JSON as text on both backends); JSON columns hold the engine's own records (lotus_core/trader/state.py).
CREATE TABLE trader_state (
    name        TEXT PRIMARY KEY,
    version     INTEGER NOT NULL CHECK (version >= 1),
    source_pos  BIGINT NOT NULL DEFAULT 0,
    snapshot    TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE trader_orders (
    order_id      TEXT PRIMARY KEY,
    execution_id  TEXT NOT NULL,
    coin          TEXT NOT NULL,
    venue         TEXT NOT NULL,
    side          INTEGER NOT NULL CHECK (side IN (-1, 1)),
    qty           DOUBLE PRECISION NOT NULL CHECK (qty >= 0),
    kind          TEXT NOT NULL CHECK (kind IN ('market', 'limit')),
    tif           TEXT NOT NULL CHECK (tif IN ('ioc', 'gtc', 'post_only')),
    limit_px      DOUBLE PRECISION,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'working', 'filled', 'cancelled', 'rejected')),
    filled_qty    DOUBLE PRECISION NOT NULL CHECK (filled_qty >= 0),
    created_ms    BIGINT NOT NULL,
    arrive_ms     BIGINT NOT NULL,
    reason        TEXT,
    data          TEXT NOT NULL
);

CREATE INDEX trader_orders_status ON trader_orders (status);

CREATE TABLE trader_fills (
    fill_id       TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    execution_id  TEXT NOT NULL,
    coin          TEXT NOT NULL,
    venue         TEXT NOT NULL,
    side          INTEGER NOT NULL CHECK (side IN (-1, 1)),
    px            DOUBLE PRECISION NOT NULL CHECK (px > 0),
    qty           DOUBLE PRECISION NOT NULL CHECK (qty > 0),
    fee           DOUBLE PRECISION NOT NULL,
    ts_ms         BIGINT NOT NULL,
    liquidity     TEXT NOT NULL CHECK (liquidity IN ('taker', 'maker'))
);

CREATE INDEX trader_fills_execution ON trader_fills (execution_id);

CREATE TABLE trader_positions (
    coin           TEXT PRIMARY KEY,
    qty            DOUBLE PRECISION NOT NULL,
    avg_px         DOUBLE PRECISION NOT NULL,
    realised       DOUBLE PRECISION NOT NULL,
    fees           DOUBLE PRECISION NOT NULL,
    funding        DOUBLE PRECISION NOT NULL,
    sl_px          DOUBLE PRECISION,
    tp_px          DOUBLE PRECISION,
    time_limit_at  BIGINT,
    data           TEXT NOT NULL
);
