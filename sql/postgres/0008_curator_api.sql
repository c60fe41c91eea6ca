-- The Curator API's tables (issue 33 item 6; docs/curator_api.md): curator_candidates, the
-- items waiting for a curator's sign-off or veto (detector cards, bred detectors, lessons,
-- patches, retirements: any proposer posts here), and curator_actions, the append-only log
-- of every signed action a curator took, with the signed body and signature. Columns are
-- described in lotus_core/fabric/tables.yaml; tests/core/fabric/test_module_manifests.py
-- checks this file against it on both backends. Roles and policies for the curator roles:
-- lotus_core/curator_api/security.py (module roles get nothing here).
CREATE TABLE curator_candidates (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id      TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('detector_card', 'bred_detector', 'lesson', 'patch', 'retirement')),
    subject_id   TEXT NOT NULL,
    proposer     TEXT NOT NULL,
    summary      TEXT,
    detail       JSONB NOT NULL CHECK (jsonb_typeof(detail) = 'object'),
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'signed_off', 'vetoed', 'withdrawn')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at   TIMESTAMPTZ,
    decided_by   TEXT
);
CREATE INDEX curator_candidates_open ON curator_candidates (status, id);
ALTER TABLE curator_candidates ENABLE ROW LEVEL SECURITY;

CREATE TABLE curator_actions (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id        TEXT NOT NULL UNIQUE,
    curator_id       TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('data', 'leakage', 'diversity', 'regime', 'compliance', 'mutation', 'adversarial', 'explainability')),
    action           TEXT NOT NULL CHECK (action IN ('sign_off', 'veto', 'nudge', 'acknowledge', 'resolve')),
    target_kind      TEXT NOT NULL CHECK (target_kind IN ('candidate', 'detector', 'alarm')),
    target_id        TEXT NOT NULL,
    value            DOUBLE PRECISION CHECK (value >= -0.15 AND value <= 0.15),
    reason           TEXT NOT NULL,
    nonce            TEXT NOT NULL,
    signed_ts_ms     BIGINT NOT NULL CHECK (signed_ts_ms >= 0),
    body             JSONB NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    sig              TEXT NOT NULL,
    key_fingerprint  TEXT NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (curator_id, nonce),
    CHECK ((action = 'nudge') = (value IS NOT NULL))
);
CREATE INDEX curator_actions_target ON curator_actions (target_kind, target_id, seq);
ALTER TABLE curator_actions ENABLE ROW LEVEL SECURITY;
-- Append-only: the log is evidence, so no row changes or disappears once written (the
-- owner included; RLS already denies it to every other role).
CREATE FUNCTION curator_actions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'curator_actions is append-only'; END $$;
CREATE TRIGGER curator_actions_no_change BEFORE UPDATE OR DELETE ON curator_actions
FOR EACH ROW EXECUTE FUNCTION curator_actions_append_only();
