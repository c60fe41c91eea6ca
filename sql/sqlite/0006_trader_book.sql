-- The paper Trader's working records (issue 12; docs/trader.md): orders, fills, positions
-- and the engine's snapshot, written in the same transaction as the inbox row or market
-- event that changed them, so a restart (even after kill -9) resumes exactly where the last
-- commit left off and no fill is applied twice (trader_fills.fill_id is the fill's identity).
-- Owned by tr; JSON columns hold the engine's own records (lotus_core/trader/state.py).
CREATE TABLE trader_state (
    name        TEXT PRIMARY KEY NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    source_pos  INTEGER NOT NULL DEFAULT 0,
    snapshot    TEXT NOT NULL CHECK (json_valid(snapshot) AND json_type(snapshot) = 'object'),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE trader_orders (
    order_id      TEXT PRIMARY KEY NOT NULL,
    execution_id  TEXT NOT NULL,
    coin          TEXT NOT NULL,
    venue         TEXT NOT NULL,
    side          INTEGER NOT NULL CHECK (side IN (-1, 1)),
    qty           REAL NOT NULL CHECK (qty >= 0),
    kind          TEXT NOT NULL CHECK (kind IN ('market', 'limit')),
    tif           TEXT NOT NULL CHECK (tif IN ('ioc', 'gtc', 'post_only')),
    limit_px      REAL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'working', 'filled', 'cancelled', 'rejected')),
    filled_qty    REAL NOT NULL CHECK (filled_qty >= 0),
    created_ms    INTEGER NOT NULL,
    arrive_ms     INTEGER NOT NULL,
    reason        TEXT,
    data          TEXT NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object')
);

CREATE INDEX trader_orders_status ON trader_orders (status);

CREATE TABLE trader_fills (
    fill_id       TEXT PRIMARY KEY NOT NULL,
    order_id      TEXT NOT NULL,
    execution_id  TEXT NOT NULL,
    coin          TEXT NOT NULL,
    venue         TEXT NOT NULL,
    side          INTEGER NOT NULL CHECK (side IN (-1, 1)),
    px            REAL NOT NULL CHECK (px > 0),
    qty           REAL NOT NULL CHECK (qty > 0),
    fee           REAL NOT NULL,
    ts_ms         INTEGER NOT NULL,
    liquidity     TEXT NOT NULL CHECK (liquidity IN ('taker', 'maker'))
);

CREATE INDEX trader_fills_execution ON trader_fills (execution_id);

CREATE TABLE trader_positions (
    coin           TEXT PRIMARY KEY NOT NULL,
    qty            REAL NOT NULL,
    avg_px         REAL NOT NULL,
    realised       REAL NOT NULL,
    fees           REAL NOT NULL,
    funding        REAL NOT NULL,
    sl_px          REAL,
    tp_px          REAL,
    time_limit_at  INTEGER,
    data           TEXT NOT NULL CHECK (json_valid(data) AND json_type(data) = 'object')
);
