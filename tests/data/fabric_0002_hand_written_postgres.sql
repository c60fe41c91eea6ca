-- The module fabric (issue 5): per module m in (sig, dm, tr, vis) the tables m_strand,
-- m_inbox, m_outbox and m_priors; the shared lotus_ledger, dead_letter, heartbeats and
-- curator_queue. Every column is described (type, unit, range, null meaning) in
-- lotus_core/fabric/tables.yaml and lotus_core/fabric/modules/<m>/module.yaml, and
-- tests/test_module_manifests.py checks this file against them on both backends.
--
-- Ledger: every strand and inbox row has exactly one lotus_ledger row ('<table>:<id>'),
-- kept by plpgsql triggers in the same transaction as the row itself (insert, update and delete).
-- JSON columns are JSONB; timestamps are TIMESTAMPTZ.

-- One index of everything: a pointer row per strand and per inbox row, written by triggers in the same transaction as the row itself (never by callers). ledger_id is '<ref_table>:<ref_id>'.
CREATE TABLE lotus_ledger (
    ledger_id        TEXT PRIMARY KEY,
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
    tags             JSONB NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(tags) = 'array'),
    priority         INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 2),
    ttl              INTEGER CHECK (ttl >= 1),
    retry_count      INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'processed', 'failed', 'recorded')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at     TIMESTAMPTZ
);

CREATE INDEX lotus_ledger_module_time ON lotus_ledger (module, created_at);
CREATE INDEX lotus_ledger_lifecycle ON lotus_ledger (lifecycle_id);
CREATE INDEX lotus_ledger_status ON lotus_ledger (status, created_at);

-- One row per published (or vetoed) scored window, and per outcome linked back to it.
CREATE TABLE sig_strand (
    id               TEXT PRIMARY KEY,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'sig' CHECK (module IN ('sig')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    detector_id      TEXT,
    horizon          TEXT,
    signal           DOUBLE PRECISION CHECK (signal BETWEEN -1 AND 1),
    det_sigma        DOUBLE PRECISION CHECK (det_sigma BETWEEN 0 AND 1),
    curated_sigma    DOUBLE PRECISION CHECK (curated_sigma BETWEEN 0 AND 1),
    published        BOOLEAN NOT NULL DEFAULT FALSE,
    eligibility      JSONB CHECK (jsonb_typeof(eligibility) = 'object'),
    provenance       JSONB CHECK (jsonb_typeof(provenance) = 'object'),
    priors_ver       TEXT,
    outcomes         JSONB CHECK (jsonb_typeof(outcomes) = 'object')
);

CREATE INDEX sig_strand_lifecycle ON sig_strand (lifecycle_id);
CREATE INDEX sig_strand_kind_time ON sig_strand (kind, created_at);

-- Envelopes delivered to sig.
CREATE TABLE sig_inbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX sig_inbox_status ON sig_inbox (status, seq);
CREATE INDEX sig_inbox_dedupe ON sig_inbox (dedupe_key);
CREATE INDEX sig_inbox_lifecycle ON sig_inbox (lifecycle_id);

-- Envelopes sig has written for the router.
CREATE TABLE sig_outbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX sig_outbox_status ON sig_outbox (status, seq);
CREATE INDEX sig_outbox_dedupe ON sig_outbox (dedupe_key);
CREATE INDEX sig_outbox_lifecycle ON sig_outbox (lifecycle_id);

-- sig's knobs (kernel penalties and resonance caps, curator bounds).
CREATE TABLE sig_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            DOUBLE PRECISION NOT NULL,
    min_value        DOUBLE PRECISION,
    max_value        DOUBLE PRECISION,
    source_event_id  TEXT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- One row per decision ticket, and per evaluation of a ticket once executed.
CREATE TABLE dm_strand (
    id               TEXT PRIMARY KEY,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'dm' CHECK (module IN ('dm')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    alpha_ref        TEXT,
    decision_id      TEXT,
    portfolio_id     TEXT,
    target_type      TEXT CHECK (target_type IN ('weights', 'delta', 'notional')),
    targets          JSONB CHECK (jsonb_typeof(targets) = 'object'),
    confidence       DOUBLE PRECISION CHECK (confidence BETWEEN 0 AND 1),
    valid_until      TIMESTAMPTZ,
    budget           JSONB CHECK (jsonb_typeof(budget) = 'object'),
    decision         JSONB CHECK (jsonb_typeof(decision) = 'object'),
    evaluation       JSONB CHECK (jsonb_typeof(evaluation) = 'object')
);

CREATE INDEX dm_strand_lifecycle ON dm_strand (lifecycle_id);
CREATE INDEX dm_strand_kind_time ON dm_strand (kind, created_at);

-- Envelopes delivered to dm.
CREATE TABLE dm_inbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX dm_inbox_status ON dm_inbox (status, seq);
CREATE INDEX dm_inbox_dedupe ON dm_inbox (dedupe_key);
CREATE INDEX dm_inbox_lifecycle ON dm_inbox (lifecycle_id);

-- Envelopes dm has written for the router.
CREATE TABLE dm_outbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX dm_outbox_status ON dm_outbox (status, seq);
CREATE INDEX dm_outbox_dedupe ON dm_outbox (dedupe_key);
CREATE INDEX dm_outbox_lifecycle ON dm_outbox (lifecycle_id);

-- dm's policy knobs (budget caps, turnover, curator bound).
CREATE TABLE dm_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            DOUBLE PRECISION NOT NULL,
    min_value        DOUBLE PRECISION,
    max_value        DOUBLE PRECISION,
    source_event_id  TEXT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- One row per execution of a decision (fills, slippage, latency).
CREATE TABLE tr_strand (
    id               TEXT PRIMARY KEY,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'tr' CHECK (module IN ('tr')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    decision_id      TEXT,
    execution_id     TEXT,
    venue            TEXT,
    exec_status      TEXT CHECK (exec_status IN ('filled', 'partial', 'failed', 'cancelled')),
    executed_price   DOUBLE PRECISION CHECK (executed_price >= 0),
    executed_qty     DOUBLE PRECISION CHECK (executed_qty >= 0),
    slippage_bps     DOUBLE PRECISION CHECK (slippage_bps BETWEEN -10000 AND 10000),
    latency_ms       DOUBLE PRECISION CHECK (latency_ms >= 0),
    order_spec       JSONB CHECK (jsonb_typeof(order_spec) = 'object'),
    fills            JSONB CHECK (jsonb_typeof(fills) = 'array'),
    exec_metrics     JSONB CHECK (jsonb_typeof(exec_metrics) = 'object')
);

CREATE INDEX tr_strand_lifecycle ON tr_strand (lifecycle_id);
CREATE INDEX tr_strand_kind_time ON tr_strand (kind, created_at);

-- Envelopes delivered to tr.
CREATE TABLE tr_inbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX tr_inbox_status ON tr_inbox (status, seq);
CREATE INDEX tr_inbox_dedupe ON tr_inbox (dedupe_key);
CREATE INDEX tr_inbox_lifecycle ON tr_inbox (lifecycle_id);

-- Envelopes tr has written for the router.
CREATE TABLE tr_outbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX tr_outbox_status ON tr_outbox (status, seq);
CREATE INDEX tr_outbox_dedupe ON tr_outbox (dedupe_key);
CREATE INDEX tr_outbox_lifecycle ON tr_outbox (lifecycle_id);

-- tr's execution knobs (slippage cap, passive bias, venue weights).
CREATE TABLE tr_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            DOUBLE PRECISION NOT NULL,
    min_value        DOUBLE PRECISION,
    max_value        DOUBLE PRECISION,
    source_event_id  TEXT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- One row per analysed chart image.
CREATE TABLE vis_strand (
    id               TEXT PRIMARY KEY,
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    module           TEXT NOT NULL DEFAULT 'vis' CHECK (module IN ('vis')),
    kind             TEXT NOT NULL,
    symbol           TEXT,
    timeframe        TEXT,
    session_bucket   TEXT,
    regime           TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    chart_hash       TEXT,
    ocr_text         TEXT,
    panel_bbox       JSONB CHECK (jsonb_typeof(panel_bbox) = 'array'),
    pattern_flags    JSONB CHECK (jsonb_typeof(pattern_flags) = 'object')
);

CREATE INDEX vis_strand_lifecycle ON vis_strand (lifecycle_id);
CREATE INDEX vis_strand_kind_time ON vis_strand (kind, created_at);

-- Envelopes delivered to vis.
CREATE TABLE vis_inbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX vis_inbox_status ON vis_inbox (status, seq);
CREATE INDEX vis_inbox_dedupe ON vis_inbox (dedupe_key);
CREATE INDEX vis_inbox_lifecycle ON vis_inbox (lifecycle_id);

-- Envelopes vis has written for the router.
CREATE TABLE vis_outbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    ts               TIMESTAMPTZ NOT NULL,
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    to_modules       JSONB NOT NULL CHECK ((jsonb_typeof(to_modules) = 'array') AND (jsonb_array_length(to_modules) >= 1)),
    intent           TEXT NOT NULL CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    lifecycle_id     TEXT NOT NULL,
    parent_id        TEXT,
    schema_ref       TEXT NOT NULL,
    priors_ver       TEXT,
    dedupe_key       TEXT,
    ttl_sec          INTEGER NOT NULL CHECK (ttl_sec BETWEEN 1 AND 2592000),
    tags             JSONB NOT NULL CHECK (jsonb_typeof(tags) = 'array'),
    payload          JSONB NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    hash             TEXT NOT NULL,
    sig              TEXT,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    consumed_at      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX vis_outbox_status ON vis_outbox (status, seq);
CREATE INDEX vis_outbox_dedupe ON vis_outbox (dedupe_key);
CREATE INDEX vis_outbox_lifecycle ON vis_outbox (lifecycle_id);

-- vis's knobs.
CREATE TABLE vis_priors (
    key              TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    value            DOUBLE PRECISION NOT NULL,
    min_value        DOUBLE PRECISION,
    max_value        DOUBLE PRECISION,
    source_event_id  TEXT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key, version),
    CHECK (min_value IS NULL OR value >= min_value),
    CHECK (max_value IS NULL OR value <= max_value)
);


-- Envelopes given up on, with a machine reason (expired, invalid_envelope, invalid_payload, bad_hash, bad_signature, forbidden_route, poison, handler_error) and a human detail. Unique per (event_id, module, reason), so recording twice is a no-op.
CREATE TABLE dead_letter (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT,
    module           TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis')),
    intent           TEXT CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT')),
    reason           TEXT NOT NULL,
    detail           TEXT,
    envelope         JSONB NOT NULL CHECK (jsonb_typeof(envelope) = 'object'),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (event_id, module, reason)
);

CREATE INDEX dead_letter_module_time ON dead_letter (module, created_at);

-- One row per long-running component, overwritten by each beat.
CREATE TABLE heartbeats (
    component        TEXT PRIMARY KEY,
    module           TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis', 'router')),
    pid              INTEGER,
    host             TEXT,
    status           TEXT NOT NULL CHECK (status IN ('starting', 'ok', 'degraded', 'error', 'stopping', 'stopped')),
    detail           JSONB CHECK (jsonb_typeof(detail) = 'object'),
    beat_at          TIMESTAMPTZ NOT NULL
);


-- WATCHDOG_ALERTs waiting for a curator; one row per (event_id, module).
CREATE TABLE curator_queue (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL,
    module           TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis')),
    from_module      TEXT NOT NULL CHECK (from_module IN ('sig', 'dm', 'tr', 'vis')),
    severity         TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    subject_kind     TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    reason           TEXT NOT NULL,
    detail           JSONB NOT NULL CHECK (jsonb_typeof(detail) = 'object'),
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at      TIMESTAMPTZ,
    UNIQUE (event_id, module)
);

CREATE INDEX curator_queue_open ON curator_queue (module, status, id);


-- Ledger mirroring. SECURITY DEFINER: a module role that may insert into another module's
-- inbox has no right to the ledger, yet its insert must be mirrored in the same transaction.
-- The search_path is pinned to this schema with pg_temp last, so no temporary table can
-- stand in for lotus_ledger.
CREATE FUNCTION lotus_ledger_strand() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
        VALUES (TG_TABLE_NAME || ':' || NEW.id, NEW.module, NEW.kind, TG_TABLE_NAME, NEW.id,
                NEW.lifecycle_id, NEW.parent_id, NEW.symbol, NEW.timeframe, NEW.session_bucket,
                NEW.regime, '[]'::jsonb, 0, NULL, 0, 'recorded', NEW.created_at, NULL);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE lotus_ledger
           SET ledger_id = TG_TABLE_NAME || ':' || NEW.id, ref_id = NEW.id, module = NEW.module,
               kind = NEW.kind, lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
               symbol = NEW.symbol, timeframe = NEW.timeframe,
               session_bucket = NEW.session_bucket, regime = NEW.regime,
               created_at = NEW.created_at
         WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.id;
    ELSE
        DELETE FROM lotus_ledger WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION lotus_ledger_inbox() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
        VALUES (TG_TABLE_NAME || ':' || NEW.event_id, split_part(TG_TABLE_NAME, '_', 1),
                NEW.intent, TG_TABLE_NAME, NEW.event_id, NEW.lifecycle_id, NEW.parent_id,
                NULL, NULL, NULL, NULL, NEW.tags || jsonb_build_array('from:' || NEW.from_module),
                CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, NEW.ttl_sec, NEW.attempts, NEW.status, NEW.created_at,
                NEW.consumed_at);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE lotus_ledger
           SET ledger_id = TG_TABLE_NAME || ':' || NEW.event_id, ref_id = NEW.event_id,
               kind = NEW.intent, lifecycle_id = NEW.lifecycle_id, parent_id = NEW.parent_id,
               tags = NEW.tags || jsonb_build_array('from:' || NEW.from_module),
               priority = CASE NEW.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END, ttl = NEW.ttl_sec, retry_count = NEW.attempts,
               status = NEW.status, created_at = NEW.created_at, processed_at = NEW.consumed_at
         WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.event_id;
    ELSE
        DELETE FROM lotus_ledger WHERE ledger_id = TG_TABLE_NAME || ':' || OLD.event_id;
    END IF;
    RETURN NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION lotus_ledger_strand() SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION lotus_ledger_inbox() SET search_path = %I, pg_temp',
                   current_schema());
END
$$;
REVOKE ALL ON FUNCTION lotus_ledger_strand() FROM PUBLIC;
REVOKE ALL ON FUNCTION lotus_ledger_inbox() FROM PUBLIC;

CREATE TRIGGER sig_strand_ledger AFTER INSERT OR UPDATE OR DELETE ON sig_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER sig_inbox_ledger AFTER INSERT OR UPDATE OR DELETE ON sig_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();

CREATE TRIGGER dm_strand_ledger AFTER INSERT OR UPDATE OR DELETE ON dm_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER dm_inbox_ledger AFTER INSERT OR UPDATE OR DELETE ON dm_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();

CREATE TRIGGER tr_strand_ledger AFTER INSERT OR UPDATE OR DELETE ON tr_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER tr_inbox_ledger AFTER INSERT OR UPDATE OR DELETE ON tr_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();

CREATE TRIGGER vis_strand_ledger AFTER INSERT OR UPDATE OR DELETE ON vis_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER vis_inbox_ledger AFTER INSERT OR UPDATE OR DELETE ON vis_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();
