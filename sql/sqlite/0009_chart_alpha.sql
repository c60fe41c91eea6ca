-- The intent CHART_ALPHA (vis -> dm: a recorded chart that is a Decision-Maker source,
-- docs/vision.md and docs/dm.md "Sources"): every inbox, outbox and dead_letter `intent` CHECK
-- made by 0002_modules widened to accept it. Nothing else changes; every existing row
-- already satisfies the wider check. lotus_core/fabric/tables.yaml lists CHART_ALPHA in
-- those enums with `enum_since: {CHART_ALPHA: 9}`, so 0002 still renders as it was.
-- SQLite cannot alter a CHECK constraint; widening one changes no stored byte, so the
-- tables' recorded definitions are edited in place (sqlite.org/lang_altertable.html, "Making
-- other kinds of table schema changes"): a DDL statement (a table
-- whose CHECK proves all nine were edited) then bumps the schema cookie, so
-- other connections re-read the schema, and RESET reloads it on this one.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
   SET sql = replace(sql, '''ALPHA_PROPOSED'', ''ALPHA_WITHDRAWN'', ''DM_DECISION'', ''EXEC_REPORT'', ''PRIOR_PATCH'', ''PRIOR_PATCH_APPLIED'', ''LESSON_PUBLISHED'', ''WATCHDOG_ALERT''', '''ALPHA_PROPOSED'', ''ALPHA_WITHDRAWN'', ''DM_DECISION'', ''EXEC_REPORT'', ''PRIOR_PATCH'', ''PRIOR_PATCH_APPLIED'', ''LESSON_PUBLISHED'', ''WATCHDOG_ALERT'', ''CHART_ALPHA''')
 WHERE type = 'table' AND name IN ('sig_inbox', 'sig_outbox', 'dm_inbox', 'dm_outbox', 'tr_inbox', 'tr_outbox', 'vis_inbox', 'vis_outbox', 'dead_letter');
-- all nine edited, or the migration fails (this CHECK refuses any other count)
CREATE TABLE lotus_schema_bump (n INTEGER CHECK (n = 9));
INSERT INTO lotus_schema_bump
SELECT count(*) FROM sqlite_master
 WHERE type = 'table' AND name IN ('sig_inbox', 'sig_outbox', 'dm_inbox', 'dm_outbox', 'tr_inbox', 'tr_outbox', 'vis_inbox', 'vis_outbox', 'dead_letter')
   AND instr(sql, '''WATCHDOG_ALERT'', ''CHART_ALPHA'')') > 0;
DROP TABLE lotus_schema_bump;
PRAGMA writable_schema = RESET;
