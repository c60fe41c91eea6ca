-- The Curator API's tables (issue 33 item 6; docs/curator_api.md): curator_candidates, the
-- items waiting for a curator's sign-off or veto (detector cards, bred detectors, lessons,
-- patches, retirements: any proposer posts here), and curator_actions, the append-only log
-- of every signed action a curator took, with the signed body and signature. Columns are
-- described in lotus_core/fabric/tables.yaml; tests/core/fabric/test_module_manifests.py
-- checks this file against it on both backends.
CREATE TABLE curator_candidates (
    id           INTEGER PRIMARY KEY NOT NULL,
    item_id      TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('detector_card', 'bred_detector', 'lesson', 'patch', 'retirement')),
    subject_id   TEXT NOT NULL,
    proposer     TEXT NOT NULL,
    summary      TEXT,
    detail       TEXT NOT NULL CHECK (json_valid(detail) AND json_type(detail) = 'object'),
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'signed_off', 'vetoed', 'withdrawn')),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    decided_at   TEXT CHECK (decided_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    decided_by   TEXT
);
CREATE INDEX curator_candidates_open ON curator_candidates (status, id);

CREATE TABLE curator_actions (
    seq              INTEGER PRIMARY KEY NOT NULL,
    action_id        TEXT NOT NULL UNIQUE,
    curator_id       TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('data', 'leakage', 'diversity', 'regime', 'compliance', 'mutation', 'adversarial', 'explainability')),
    action           TEXT NOT NULL CHECK (action IN ('sign_off', 'veto', 'nudge', 'acknowledge', 'resolve')),
    target_kind      TEXT NOT NULL CHECK (target_kind IN ('candidate', 'detector', 'alarm')),
    target_id        TEXT NOT NULL,
    value            REAL CHECK (value >= -0.15 AND value <= 0.15),
    reason           TEXT NOT NULL,
    nonce            TEXT NOT NULL,
    signed_ts_ms     INTEGER NOT NULL CHECK (signed_ts_ms >= 0),
    body             TEXT NOT NULL CHECK (json_valid(body) AND json_type(body) = 'object'),
    sig              TEXT NOT NULL,
    key_fingerprint  TEXT NOT NULL,
    recorded_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (recorded_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    UNIQUE (curator_id, nonce),
    CHECK ((action = 'nudge') = (value IS NOT NULL))
);
CREATE INDEX curator_actions_target ON curator_actions (target_kind, target_id, seq);
-- Append-only: the log is evidence, so no row changes or disappears once written.
CREATE TRIGGER curator_actions_no_update BEFORE UPDATE ON curator_actions
BEGIN SELECT RAISE(ABORT, 'curator_actions is append-only'); END;
CREATE TRIGGER curator_actions_no_delete BEFORE DELETE ON curator_actions
BEGIN SELECT RAISE(ABORT, 'curator_actions is append-only'); END;
