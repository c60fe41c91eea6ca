-- The Signal Bus until the module fabric routes it: one row per published window (live or
-- paper) with its sigbus-1.0.0 payload. A day is replaced as a whole when signal_events is
-- re-materialised (delete the day, insert its rows, one transaction), never duplicated.
CREATE TABLE signal_bus (
    window_id   TEXT    PRIMARY KEY NOT NULL,  -- ULID of the scored window (signal_events)
    day         TEXT    NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    ts_ms       INTEGER NOT NULL,              -- window time, ms since epoch (UTC)
    coin        TEXT    NOT NULL,
    detector_id TEXT    NOT NULL,
    paper       INTEGER NOT NULL CHECK (paper IN (0, 1)),       -- 1: exploration, paper mode
    propensity  REAL    NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    schema_ver  TEXT    NOT NULL,              -- 'sigbus-1.0.0'
    payload     TEXT    NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    run_id      TEXT,                          -- the Dagster run that wrote the row
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX signal_bus_day ON signal_bus (day, ts_ms);
