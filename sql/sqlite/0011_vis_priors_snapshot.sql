-- Chart-prior snapshots (docs/vision.md, "Lessons and priors"): one row per vis priors version written to
-- vis_priors by the nightly vis_priors asset or by a rollback, holding the active rows
-- before and after as canonical JSON objects {key: value}. Columns are described in
-- lotus_core/fabric/tables.yaml (vis_priors_snapshot); tests/test_module_manifests.py checks
-- this file against it on both backends.
CREATE TABLE vis_priors_snapshot (
    version         INTEGER PRIMARY KEY NOT NULL CHECK (version >= 1),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'),
    source          TEXT NOT NULL,
    note            TEXT,
    before_version  INTEGER NOT NULL CHECK (before_version >= 0),
    before_json     TEXT NOT NULL CHECK (json_valid(before_json) AND json_type(before_json) = 'object'),
    after_json      TEXT NOT NULL CHECK (json_valid(after_json) AND json_type(after_json) = 'object')
);
