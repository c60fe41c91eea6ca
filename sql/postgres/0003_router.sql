-- The Herald router (issue 5, second half; docs/router.md).
--
-- 1. "Receivers keep one event per dedupe_key": a partial unique index per inbox, so a
--    second envelope with the same dedupe_key (a sender's retry under a new event_id) is
--    skipped by the router's INSERT ... ON CONFLICT DO NOTHING like a repeated event_id.
-- 2. router_lease: how SQLite routers share the outboxes (a lease per claimed row). On
--    PostgreSQL routers use row locks (SELECT ... FOR UPDATE SKIP LOCKED) and never touch
--    it; it exists so both dialects build the same tables, with row-level security on and
--    no grant, so only the owner could use it.
CREATE UNIQUE INDEX sig_inbox_dedupe_key ON sig_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE UNIQUE INDEX dm_inbox_dedupe_key ON dm_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE UNIQUE INDEX tr_inbox_dedupe_key ON tr_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE UNIQUE INDEX vis_inbox_dedupe_key ON vis_inbox (dedupe_key) WHERE dedupe_key IS NOT NULL;

CREATE TABLE router_lease (
    module      TEXT NOT NULL CHECK (module IN ('sig', 'dm', 'tr', 'vis')),  -- whose outbox
    seq         BIGINT NOT NULL,                                             -- the outbox row
    owner       TEXT NOT NULL,                                               -- '<name>:<host>:<pid>:<nonce>'
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (module, seq)
);
ALTER TABLE router_lease ENABLE ROW LEVEL SECURITY;
