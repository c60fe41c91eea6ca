-- The Signal Bus until the module fabric routes it: one row per published window (live or
-- paper) with its sigbus-1.0.0 payload. A day is replaced as a whole when signal_events is
-- re-materialised (delete the day, insert its rows, one transaction), never duplicated.
CREATE TABLE signal_bus (
    window_id   TEXT             PRIMARY KEY NOT NULL,  -- ULID of the scored window
    day         TEXT             NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
    ts_ms       BIGINT           NOT NULL,              -- window time, ms since epoch (UTC)
    coin        TEXT             NOT NULL,
    detector_id TEXT             NOT NULL,
    paper       BOOLEAN          NOT NULL,              -- true: exploration, paper mode
    propensity  DOUBLE PRECISION NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    schema_ver  TEXT             NOT NULL,              -- 'sigbus-1.0.0'
    payload     JSONB            NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    run_id      TEXT,                                   -- the Dagster run that wrote the row
    created_at  TIMESTAMPTZ      NOT NULL DEFAULT now()
);

CREATE INDEX signal_bus_day ON signal_bus (day, ts_ms);

-- Row-level security on, no policy yet: the owner (migrations, the nightly runs) writes it;
-- module roles see nothing until the fabric's security grants them access (or routes the
-- payloads through sig_outbox instead).
ALTER TABLE signal_bus ENABLE ROW LEVEL SECURITY;
