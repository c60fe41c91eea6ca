-- The Herald router (issue 5, second half; docs/router.md).
--
-- 1. "Receivers keep one event per dedupe_key": a partial unique index per inbox, so a
--    second envelope with the same dedupe_key (a sender's retry under a new event_id) is
--    skipped by the router's INSERT ... ON CONFLICT DO NOTHING like a repeated event_id.
-- 2. router_lease: SQLite has one write lock and no row locks, so two routers sharing the
--    outboxes claim rows with a lease (owner + expiry), check envelopes outside the write
--    lock, and deliver only rows whose lease they still hold. A killed router's leases
--    simply expire. Router-internal; not a module table. PostgreSQL routers use row locks
--    (SELECT ... FOR UPDATE SKIP LOCKED); its copy of this table stays empty.
CREATE UNIQUE INDEX sig_inbox_dedupe_key ON sig_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE UNIQUE INDEX dm_inbox_dedupe_key ON dm_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE UNIQUE INDEX tr_inbox_dedupe_key ON tr_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE UNIQUE INDEX vis_inbox_dedupe_key ON vis_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;

CREATE TABLE router_lease (
    module      TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis')),  -- whose outbox
    seq         INTEGER NOT NULL,                                            -- the outbox row
    owner       TEXT NOT NULL,                                               -- '<name>:<host>:<pid>:<nonce>'
    expires_at  TEXT NOT NULL CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    PRIMARY KEY (module, seq)
) WITHOUT ROWID;
