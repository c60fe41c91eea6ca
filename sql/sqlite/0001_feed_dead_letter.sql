-- Feed lines the raw_feed stage refused, and why. One UTC day is replaced as a whole when
-- its partition is re-materialised, so rows are keyed for lookup by day.
CREATE TABLE feed_dead_letter (
    id         INTEGER PRIMARY KEY,
    day        TEXT    NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    source     TEXT    NOT NULL,               -- the recording file the line came from
    line_no    INTEGER NOT NULL,               -- 1-based line in that file
    recv_ts_ms INTEGER,                        -- recorder clock, when the line had one
    channel    TEXT,
    coin       TEXT,
    reason     TEXT    NOT NULL,               -- short machine-readable cause
    detail     TEXT,                           -- human-readable explanation
    raw        TEXT,                           -- the offending text (may be truncated)
    run_id     TEXT,                           -- the Dagster run that wrote the row
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX feed_dead_letter_day ON feed_dead_letter (day, source, line_no);
