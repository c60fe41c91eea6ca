-- The module fabric (issue 5): per module m in (sig, dm, tr, vis) the tables m_strand,
-- m_inbox, m_outbox and m_priors; the shared lotus_ledger, dead_letter, heartbeats and
-- curator_queue. Every column is described (type, unit, range, null meaning) in
-- lotus_core/fabric/tables.yaml and lotus_core/fabric/modules/<m>/module.yaml, and
-- tests/test_module_manifests.py checks this file against them on both backends.
--
-- Ledger: every strand and inbox row has exactly one lotus_ledger row ('<table>:<id>'),
-- kept by SQLite triggers in the same transaction as the row itself (insert, update and delete).
-- JSON columns are TEXT checked with json_valid; timestamps are ISO-8601 UTC text with milliseconds (2025-01-26T12:00:00.000Z), so they sort as text.

-- One index of everything: a pointer row per strand and per inbox row, written by triggers in the same transaction as the row itself (never by callers). ledger_id is '<ref_table>:<ref_id>'.
CREATE TABLE lotus_ledger (
    ledger_id        TEXT PRIMARY KEY NOT NULL,
    module           TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis')),
    kind             TEXT NOT NULL,
    ref_table        TEXT NOT NULL,
    ref_id           TEXT NOT NULL,
    lifecycle_id     TEXT,
    parent_id        TEXT,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    tags             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    priority         INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 2),
    ttl              INTEGER CHECK (ttl >= 1),
    retry_count      INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'processed', 'failed', 'recorded')),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    processed_at     TEXT CHECK (processed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX lotus_ledger_module_time ON lotus_ledger (module, created_at);
CREATE INDEX lotus_ledger_lifecycle ON lotus_ledger (lifecycle_id);
CREATE INDEX lotus_ledger_status ON lotus_ledger (status, created_at);

-- One row per published (or vetoed) scored window, and per outcome linked back to it.
CREATE TABLE sig_strand (
    id               TEXT PRIMARY KEY NOT NULL,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'sig' CHECK (module IN ('sig')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    detector_id      TEXT,
    horizon          TEXT,
    signal           REAL CHECK (signal BETWEEN -1 AND 1),
    det_sigma        REAL CHECK (det_sigma BETWEEN 0 AND 1),
    curated_sigma    REAL CHECK (curated_sigma BETWEEN 0 AND 1),
    published        INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    eligibility      TEXT CHECK (eligibility IS NULL OR (json_valid(eligibility) AND json_type(eligibility) = 'object')),
    provenance       TEXT CHECK (provenance IS NULL OR (json_valid(provenance) AND json_type(provenance) = 'object')),
    priors_ver       TEXT,
    outcomes         TEXT CHECK (outcomes IS NULL OR (json_valid(outcomes) AND json_type(outcomes) = 'object'))
);

CREATE INDEX sig_strand_lifecycle ON sig_strand (lifecycle_id);
CREATE INDEX sig_strand_kind_time ON sig_strand (kind, created_at);

-- Envelopes delivered to sig.
CREATE TABLE sig_inbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX sig_inbox_status ON sig_inbox (status, seq);
CREATE INDEX sig_inbox_dedupe ON sig_inbox (dedupe_key);
CREATE INDEX sig_inbox_lifecycle ON sig_inbox (lifecycle_id);

-- Envelopes sig has written for the router.
CREATE TABLE sig_outbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX sig_outbox_status ON sig_outbox (status, seq);
CREATE INDEX sig_outbox_dedupe ON sig_outbox (dedupe_key);
CREATE INDEX sig_outbox_lifecycle ON sig_outbox (lifecycle_id);

-- sig's knobs (kernel penalties and resonance caps, curator bounds).
CREATE TABLE sig_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            REAL NOT NULL,
    min_value        REAL,
    max_value        REAL,
    source_event_id  TEXT,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- One row per decision ticket, and per evaluation of a ticket once executed.
CREATE TABLE dm_strand (
    id               TEXT PRIMARY KEY NOT NULL,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'dm' CHECK (module IN ('dm')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    alpha_ref        TEXT,
    decision_id      TEXT,
    portfolio_id     TEXT,
    target_type      TEXT CHECK (target_type IN ('weights', 'delta', 'notional')),
    targets          TEXT CHECK (targets IS NULL OR (json_valid(targets) AND json_type(targets) = 'object')),
    confidence       REAL CHECK (confidence BETWEEN 0 AND 1),
    valid_until      TEXT CHECK (valid_until GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    budget           TEXT CHECK (budget IS NULL OR (json_valid(budget) AND json_type(budget) = 'object')),
    decision         TEXT CHECK (decision IS NULL OR (json_valid(decision) AND json_type(decision) = 'object')),
    evaluation       TEXT CHECK (evaluation IS NULL OR (json_valid(evaluation) AND json_type(evaluation) = 'object'))
);

CREATE INDEX dm_strand_lifecycle ON dm_strand (lifecycle_id);
CREATE INDEX dm_strand_kind_time ON dm_strand (kind, created_at);

-- Envelopes delivered to dm.
CREATE TABLE dm_inbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX dm_inbox_status ON dm_inbox (status, seq);
CREATE INDEX dm_inbox_dedupe ON dm_inbox (dedupe_key);
CREATE INDEX dm_inbox_lifecycle ON dm_inbox (lifecycle_id);

-- Envelopes dm has written for the router.
CREATE TABLE dm_outbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX dm_outbox_status ON dm_outbox (status, seq);
CREATE INDEX dm_outbox_dedupe ON dm_outbox (dedupe_key);
CREATE INDEX dm_outbox_lifecycle ON dm_outbox (lifecycle_id);

-- dm's policy knobs (budget caps, turnover, curator bound).
CREATE TABLE dm_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            REAL NOT NULL,
    min_value        REAL,
    max_value        REAL,
    source_event_id  TEXT,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- One row per execution of a decision (fills, slippage, latency).
CREATE TABLE tr_strand (
    id               TEXT PRIMARY KEY NOT NULL,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'tr' CHECK (module IN ('tr')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    decision_id      TEXT,
    execution_id     TEXT,
    venue            TEXT,
    exec_status      TEXT CHECK (exec_status IN ('filled', 'partial', 'failed', 'cancelled')),
    executed_price   REAL CHECK (executed_price >= 0),
    executed_qty     REAL CHECK (executed_qty >= 0),
    slippage_bps     REAL CHECK (slippage_bps BETWEEN -10000 AND 10000),
    latency_ms       REAL CHECK (latency_ms >= 0),
    order_spec       TEXT CHECK (order_spec IS NULL OR (json_valid(order_spec) AND json_type(order_spec) = 'object')),
    fills            TEXT CHECK (fills IS NULL OR (json_valid(fills) AND json_type(fills) = 'array')),
    exec_metrics     TEXT CHECK (exec_metrics IS NULL OR (json_valid(exec_metrics) AND json_type(exec_metrics) = 'object'))
);

CREATE INDEX tr_strand_lifecycle ON tr_strand (lifecycle_id);
CREATE INDEX tr_strand_kind_time ON tr_strand (kind, created_at);

-- Envelopes delivered to tr.
CREATE TABLE tr_inbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX tr_inbox_status ON tr_inbox (status, seq);
CREATE INDEX tr_inbox_dedupe ON tr_inbox (dedupe_key);
CREATE INDEX tr_inbox_lifecycle ON tr_inbox (lifecycle_id);

-- Envelopes tr has written for the router.
CREATE TABLE tr_outbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX tr_outbox_status ON tr_outbox (status, seq);
CREATE INDEX tr_outbox_dedupe ON tr_outbox (dedupe_key);
CREATE INDEX tr_outbox_lifecycle ON tr_outbox (lifecycle_id);

-- tr's execution knobs (slippage cap, passive bias, venue weights).
CREATE TABLE tr_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            REAL NOT NULL,
    min_value        REAL,
    max_value        REAL,
    source_event_id  TEXT,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- One row per analysed chart image.
CREATE TABLE vis_strand (
    id               TEXT PRIMARY KEY NOT NULL,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'vis' CHECK (module IN ('vis')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    chart_hash       TEXT,
    ocr_text         TEXT,
    panel_bbox       TEXT CHECK (panel_bbox IS NULL OR (json_valid(panel_bbox) AND json_type(panel_bbox) = 'array')),
    pattern_flags    TEXT CHECK (pattern_flags IS NULL OR (json_valid(pattern_flags) AND json_type(pattern_flags) = 'object'))
);

CREATE INDEX vis_strand_lifecycle ON vis_strand (lifecycle_id);
CREATE INDEX vis_strand_kind_time ON vis_strand (kind, created_at);

-- Envelopes delivered to vis.
CREATE TABLE vis_inbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX vis_inbox_status ON vis_inbox (status, seq);
CREATE INDEX vis_inbox_dedupe ON vis_inbox (dedupe_key);
CREATE INDEX vis_inbox_lifecycle ON vis_inbox (lifecycle_id);

-- Envelopes vis has written for the router.
CREATE TABLE vis_outbox (
    seq              INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TEXT NOT NULL CHECK (ts GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       TEXT NOT NULL CHECK ((json_valid(to_modules) AND json_type(to_modules) = 'array') AND (json_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             TEXT NOT NULL CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    payload          TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT CHECK (next_attempt_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    last_error       TEXT,
    consumed_at      TEXT CHECK (consumed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);

CREATE INDEX vis_outbox_status ON vis_outbox (status, seq);
CREATE INDEX vis_outbox_dedupe ON vis_outbox (dedupe_key);
CREATE INDEX vis_outbox_lifecycle ON vis_outbox (lifecycle_id);

-- vis's knobs.
CREATE TABLE vis_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            REAL NOT NULL,
    min_value        REAL,
    max_value        REAL,
    source_event_id  TEXT,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- Envelopes given up on, with a machine reason (expired, invalid_envelope, invalid_payload, bad_hash, bad_signature, forbidden_route, poison, handler_error) and a human detail. Unique per (event_id, module, reason), so recording twice is a no-op.
CREATE TABLE dead_letter (
    id               INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT,
    module           TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis')),
    intent           TEXT CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    reason           TEXT NOT NULL,
    detail           TEXT,
    envelope         TEXT NOT NULL CHECK (json_valid(envelope) AND json_type(envelope) = 'object'),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    UNIQUE (event_id, module, reason)
);

CREATE INDEX dead_letter_module_time ON dead_letter (module, created_at);

-- One row per long-running component, overwritten by each beat.
CREATE TABLE heartbeats (
    component        TEXT PRIMARY KEY NOT NULL,
    module           TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis', 'router')),
    pid              INTEGER,
    host             TEXT,
    status           TEXT NOT NULL CHECK (status IN ('starting', 'ok', 'degraded', 'error', 'stopping', 'stopped')),
    detail           TEXT CHECK (detail IS NULL OR (json_valid(detail) AND json_type(detail) = 'object')),
    beat_at          TEXT NOT NULL CHECK (beat_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z')
);


-- WATCHDOG_ALERTs waiting for a curator; one row per (event_id, module).
CREATE TABLE curator_queue (
    id               INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL,
    module           TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis')),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    severity         TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    subject_kind     TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    reason           TEXT NOT NULL,
    detail           TEXT NOT NULL CHECK (json_valid(detail) AND json_type(detail) = 'object'),
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    resolved_at      TEXT CHECK (resolved_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    UNIQUE (event_id, module)
);

CREATE INDEX curator_queue_open ON curator_queue (module, status, id);


CREATE TRIGGER sig_strand_ledger_insert AFTER INSERT ON sig_strand BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('sig_strand:' || NEW.id, NEW.module, NEW.kind, 'sig_strand', NEW.id, NEW.lifecycle_id,
            NEW.parent_id, NEW.symbol, NEW.timeframe, NEW.session_bucket, NEW.regime, '[]', 0,
            NULL, 0, 'recorded', NEW.created_at, NULL);
END;

CREATE TRIGGER sig_strand_ledger_update AFTER UPDATE ON sig_strand BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'sig_strand:' || NEW.id, ref_id = NEW.id, module = NEW.module, kind = NEW.kind,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id, symbol = NEW.symbol,
           timeframe = NEW.timeframe, session_bucket = NEW.session_bucket, regime = NEW.regime,
           created_at = NEW.created_at
     WHERE ledger_id = 'sig_strand:' || OLD.id;
END;

CREATE TRIGGER sig_strand_ledger_delete AFTER DELETE ON sig_strand BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'sig_strand:' || OLD.id;
END;

CREATE TRIGGER sig_inbox_ledger_insert AFTER INSERT ON sig_inbox BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('sig_inbox:' || NEW.event_id, 'sig', NEW.intent, 'sig_inbox', NEW.event_id, NEW.lifecycle_id,
            NEW.parent_id, NULL, NULL, NULL, NULL,
            json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
            CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, NEW.ttl_sec, NEW.attempts, NEW.status, NEW.created_at, NEW.consumed_at);
END;

CREATE TRIGGER sig_inbox_ledger_update AFTER UPDATE ON sig_inbox BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'sig_inbox:' || NEW.event_id, ref_id = NEW.event_id, kind = NEW.intent,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
           tags = json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
           priority = CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, ttl = NEW.ttl_sec, retry_count = NEW.attempts,
           status = NEW.status, created_at = NEW.created_at, processed_at = NEW.consumed_at
     WHERE ledger_id = 'sig_inbox:' || OLD.event_id;
END;

CREATE TRIGGER sig_inbox_ledger_delete AFTER DELETE ON sig_inbox BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'sig_inbox:' || OLD.event_id;
END;


CREATE TRIGGER dm_strand_ledger_insert AFTER INSERT ON dm_strand BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('dm_strand:' || NEW.id, NEW.module, NEW.kind, 'dm_strand', NEW.id, NEW.lifecycle_id,
            NEW.parent_id, NEW.symbol, NEW.timeframe, NEW.session_bucket, NEW.regime, '[]', 0,
            NULL, 0, 'recorded', NEW.created_at, NULL);
END;

CREATE TRIGGER dm_strand_ledger_update AFTER UPDATE ON dm_strand BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'dm_strand:' || NEW.id, ref_id = NEW.id, module = NEW.module, kind = NEW.kind,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id, symbol = NEW.symbol,
           timeframe = NEW.timeframe, session_bucket = NEW.session_bucket, regime = NEW.regime,
           created_at = NEW.created_at
     WHERE ledger_id = 'dm_strand:' || OLD.id;
END;

CREATE TRIGGER dm_strand_ledger_delete AFTER DELETE ON dm_strand BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'dm_strand:' || OLD.id;
END;

CREATE TRIGGER dm_inbox_ledger_insert AFTER INSERT ON dm_inbox BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('dm_inbox:' || NEW.event_id, 'dm', NEW.intent, 'dm_inbox', NEW.event_id, NEW.lifecycle_id,
            NEW.parent_id, NULL, NULL, NULL, NULL,
            json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
            CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, NEW.ttl_sec, NEW.attempts, NEW.status, NEW.created_at, NEW.consumed_at);
END;

CREATE TRIGGER dm_inbox_ledger_update AFTER UPDATE ON dm_inbox BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'dm_inbox:' || NEW.event_id, ref_id = NEW.event_id, kind = NEW.intent,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
           tags = json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
           priority = CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, ttl = NEW.ttl_sec, retry_count = NEW.attempts,
           status = NEW.status, created_at = NEW.created_at, processed_at = NEW.consumed_at
     WHERE ledger_id = 'dm_inbox:' || OLD.event_id;
END;

CREATE TRIGGER dm_inbox_ledger_delete AFTER DELETE ON dm_inbox BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'dm_inbox:' || OLD.event_id;
END;


CREATE TRIGGER tr_strand_ledger_insert AFTER INSERT ON tr_strand BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('tr_strand:' || NEW.id, NEW.module, NEW.kind, 'tr_strand', NEW.id, NEW.lifecycle_id,
            NEW.parent_id, NEW.symbol, NEW.timeframe, NEW.session_bucket, NEW.regime, '[]', 0,
            NULL, 0, 'recorded', NEW.created_at, NULL);
END;

CREATE TRIGGER tr_strand_ledger_update AFTER UPDATE ON tr_strand BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'tr_strand:' || NEW.id, ref_id = NEW.id, module = NEW.module, kind = NEW.kind,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id, symbol = NEW.symbol,
           timeframe = NEW.timeframe, session_bucket = NEW.session_bucket, regime = NEW.regime,
           created_at = NEW.created_at
     WHERE ledger_id = 'tr_strand:' || OLD.id;
END;

CREATE TRIGGER tr_strand_ledger_delete AFTER DELETE ON tr_strand BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'tr_strand:' || OLD.id;
END;

CREATE TRIGGER tr_inbox_ledger_insert AFTER INSERT ON tr_inbox BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('tr_inbox:' || NEW.event_id, 'tr', NEW.intent, 'tr_inbox', NEW.event_id, NEW.lifecycle_id,
            NEW.parent_id, NULL, NULL, NULL, NULL,
            json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
            CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, NEW.ttl_sec, NEW.attempts, NEW.status, NEW.created_at, NEW.consumed_at);
END;

CREATE TRIGGER tr_inbox_ledger_update AFTER UPDATE ON tr_inbox BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'tr_inbox:' || NEW.event_id, ref_id = NEW.event_id, kind = NEW.intent,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
           tags = json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
           priority = CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, ttl = NEW.ttl_sec, retry_count = NEW.attempts,
           status = NEW.status, created_at = NEW.created_at, processed_at = NEW.consumed_at
     WHERE ledger_id = 'tr_inbox:' || OLD.event_id;
END;

CREATE TRIGGER tr_inbox_ledger_delete AFTER DELETE ON tr_inbox BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'tr_inbox:' || OLD.event_id;
END;


CREATE TRIGGER vis_strand_ledger_insert AFTER INSERT ON vis_strand BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('vis_strand:' || NEW.id, NEW.module, NEW.kind, 'vis_strand', NEW.id, NEW.lifecycle_id,
            NEW.parent_id, NEW.symbol, NEW.timeframe, NEW.session_bucket, NEW.regime, '[]', 0,
            NULL, 0, 'recorded', NEW.created_at, NULL);
END;

CREATE TRIGGER vis_strand_ledger_update AFTER UPDATE ON vis_strand BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'vis_strand:' || NEW.id, ref_id = NEW.id, module = NEW.module, kind = NEW.kind,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id, symbol = NEW.symbol,
           timeframe = NEW.timeframe, session_bucket = NEW.session_bucket, regime = NEW.regime,
           created_at = NEW.created_at
     WHERE ledger_id = 'vis_strand:' || OLD.id;
END;

CREATE TRIGGER vis_strand_ledger_delete AFTER DELETE ON vis_strand BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'vis_strand:' || OLD.id;
END;

CREATE TRIGGER vis_inbox_ledger_insert AFTER INSERT ON vis_inbox BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    VALUES ('vis_inbox:' || NEW.event_id, 'vis', NEW.intent, 'vis_inbox', NEW.event_id, NEW.lifecycle_id,
            NEW.parent_id, NULL, NULL, NULL, NULL,
            json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
            CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, NEW.ttl_sec, NEW.attempts, NEW.status, NEW.created_at, NEW.consumed_at);
END;

CREATE TRIGGER vis_inbox_ledger_update AFTER UPDATE ON vis_inbox BEGIN
    UPDATE lotus_ledger
       SET ledger_id = 'vis_inbox:' || NEW.event_id, ref_id = NEW.event_id, kind = NEW.intent,
           lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
           tags = json_insert(NEW.tags, '$[#]', 'from:' || NEW.from_module),
           priority = CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, ttl = NEW.ttl_sec, retry_count = NEW.attempts,
           status = NEW.status, created_at = NEW.created_at, processed_at = NEW.consumed_at
     WHERE ledger_id = 'vis_inbox:' || OLD.event_id;
END;

CREATE TRIGGER vis_inbox_ledger_delete AFTER DELETE ON vis_inbox BEGIN
    DELETE FROM lotus_ledger WHERE ledger_id = 'vis_inbox:' || OLD.event_id;
END;
