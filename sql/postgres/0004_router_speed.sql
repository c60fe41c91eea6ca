-- Router speed (docs/router.md, "Throughput"): set-based ledger mirroring on PostgreSQL.
--
-- 0002 mirrors every strand and inbox INSERT into lotus_ledger with a plpgsql trigger FOR
-- EACH ROW: one SPI insert per row, ~60% of a routed batch's insert time. Here INSERTs are
-- mirrored by a statement-level trigger that reads the statement's transition table
-- (REFERENCING NEW TABLE): one INSERT ... SELECT per statement, in the same transaction as
-- before, with exactly the same ledger rows (an ON CONFLICT-skipped row is not in the
-- transition table, as it never fired the row trigger either). UPDATE and DELETE keep the
-- per-row triggers of 0002 (functions unchanged), now declared for those events only.
CREATE FUNCTION lotus_ledger_strand_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    SELECT TG_TABLE_NAME || ':' || n.id, n.module, n.kind, TG_TABLE_NAME, n.id, n.lifecycle_id,
           n.parent_id, n.symbol, n.timeframe, n.session_bucket, n.regime, '[]'::jsonb, 0, NULL,
           0, 'recorded', n.created_at, NULL
      FROM new_rows n;
    RETURN NULL;
END
$$;

CREATE FUNCTION lotus_ledger_inbox_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    INSERT INTO lotus_ledger (ledger_id, module, kind, ref_table, ref_id, lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime, tags, priority, ttl, retry_count, status, created_at, processed_at)
    SELECT TG_TABLE_NAME || ':' || n.event_id, split_part(TG_TABLE_NAME, '_', 1), n.intent,
           TG_TABLE_NAME, n.event_id, n.lifecycle_id, n.parent_id, NULL, NULL, NULL, NULL,
           n.tags || jsonb_build_array('from:' || n.from_module),
           CASE n.intent WHEN 'WATCHDOG_ALERT' THEN 2 WHEN 'PRIOR_PATCH' THEN 1 WHEN 'PRIOR_PATCH_APPLIED' THEN 1 ELSE 0 END,
           n.ttl_sec, n.attempts, n.status, n.created_at, n.consumed_at
      FROM new_rows n
     ORDER BY n.seq;
    RETURN NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION lotus_ledger_strand_rows() SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION lotus_ledger_inbox_rows() SET search_path = %I, pg_temp',
                   current_schema());
END
$$;
REVOKE ALL ON FUNCTION lotus_ledger_strand_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION lotus_ledger_inbox_rows() FROM PUBLIC;

DROP TRIGGER sig_strand_ledger ON sig_strand;
CREATE TRIGGER sig_strand_ledger AFTER UPDATE OR DELETE ON sig_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER sig_strand_ledger_insert AFTER INSERT ON sig_strand
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_strand_rows();

DROP TRIGGER sig_inbox_ledger ON sig_inbox;
CREATE TRIGGER sig_inbox_ledger AFTER UPDATE OR DELETE ON sig_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();
CREATE TRIGGER sig_inbox_ledger_insert AFTER INSERT ON sig_inbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_inbox_rows();

DROP TRIGGER dm_strand_ledger ON dm_strand;
CREATE TRIGGER dm_strand_ledger AFTER UPDATE OR DELETE ON dm_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER dm_strand_ledger_insert AFTER INSERT ON dm_strand
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_strand_rows();

DROP TRIGGER dm_inbox_ledger ON dm_inbox;
CREATE TRIGGER dm_inbox_ledger AFTER UPDATE OR DELETE ON dm_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();
CREATE TRIGGER dm_inbox_ledger_insert AFTER INSERT ON dm_inbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_inbox_rows();

DROP TRIGGER tr_strand_ledger ON tr_strand;
CREATE TRIGGER tr_strand_ledger AFTER UPDATE OR DELETE ON tr_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER tr_strand_ledger_insert AFTER INSERT ON tr_strand
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_strand_rows();

DROP TRIGGER tr_inbox_ledger ON tr_inbox;
CREATE TRIGGER tr_inbox_ledger AFTER UPDATE OR DELETE ON tr_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();
CREATE TRIGGER tr_inbox_ledger_insert AFTER INSERT ON tr_inbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_inbox_rows();

DROP TRIGGER vis_strand_ledger ON vis_strand;
CREATE TRIGGER vis_strand_ledger AFTER UPDATE OR DELETE ON vis_strand
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_strand();
CREATE TRIGGER vis_strand_ledger_insert AFTER INSERT ON vis_strand
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_strand_rows();

DROP TRIGGER vis_inbox_ledger ON vis_inbox;
CREATE TRIGGER vis_inbox_ledger AFTER UPDATE OR DELETE ON vis_inbox
    FOR EACH ROW EXECUTE FUNCTION lotus_ledger_inbox();
CREATE TRIGGER vis_inbox_ledger_insert AFTER INSERT ON vis_inbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION lotus_ledger_inbox_rows();
