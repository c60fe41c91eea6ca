-- Feed lines the raw_feed stage refused, and why. One UTC day is replaced as a whole when
-- its partition is re-materialised, so rows are keyed for lookup by day.
CREATE TABLE feed_dead_letter (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day        TEXT        NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
    source     TEXT        NOT NULL,           -- the recording file the line came from
    line_no    INTEGER     NOT NULL,           -- 1-based line in that file
    recv_ts_ms BIGINT,                         -- recorder clock, when the line had one
    channel    TEXT,
    coin       TEXT,
    reason     TEXT        NOT NULL,           -- short machine-readable cause
    detail     TEXT,                           -- human-readable explanation
    raw        TEXT,                           -- the offending text (may be truncated)
    run_id     TEXT,                           -- the Dagster run that wrote the row
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX feed_dead_letter_day ON feed_dead_letter (day, source, line_no);
