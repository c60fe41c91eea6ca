-- Chart-prior snapshots (docs/vision.md, "Lessons and priors"): one row per vis priors version written to
-- vis_priors by the nightly vis_priors asset or by a rollback, holding the active rows
-- before and after as JSON objects {key: value}. Columns are described in
-- lotus_core/fabric/tables.yaml (vis_priors_snapshot); tests/test_module_manifests.py checks
-- this file against it on both backends. Grants: lotus_core/fabric/security.py.
CREATE TABLE vis_priors_snapshot (
    version         INTEGER PRIMARY KEY CHECK (version >= 1),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    source          TEXT NOT NULL,
    note            TEXT,
    before_version  INTEGER NOT NULL CHECK (before_version >= 0),
    before_json     JSONB NOT NULL CHECK (jsonb_typeof(before_json) = 'object'),
    after_json      JSONB NOT NULL CHECK (jsonb_typeof(after_json) = 'object')
);
ALTER TABLE vis_priors_snapshot ENABLE ROW LEVEL SECURITY;
