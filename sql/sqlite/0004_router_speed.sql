-- Router speed (docs/router.md, "Throughput"). The PostgreSQL migration of this number
-- replaces the per-row ledger INSERT triggers with statement-level ones. SQLite has no
-- statement-level triggers (its per-row ones run inside the library, without a procedural
-- language call, and cost little), so nothing changes here: this file keeps the two
-- dialects at the same schema version.
SELECT 1;
