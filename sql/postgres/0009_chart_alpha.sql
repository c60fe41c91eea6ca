-- The intent CHART_ALPHA (vis -> dm: a recorded chart that is a Decision-Maker source,
-- docs/vision.md and docs/dm.md "Sources"): every inbox, outbox and dead_letter `intent` CHECK
-- made by 0002_modules widened to accept it. Nothing else changes; every existing row
-- already satisfies the wider check. lotus_core/fabric/tables.yaml lists CHART_ALPHA in
-- those enums with `enum_since: {CHART_ALPHA: 9}`, so 0002 still renders as it was.
ALTER TABLE sig_inbox DROP CONSTRAINT sig_inbox_intent_check,
    ADD CONSTRAINT sig_inbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE sig_outbox DROP CONSTRAINT sig_outbox_intent_check,
    ADD CONSTRAINT sig_outbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE dm_inbox DROP CONSTRAINT dm_inbox_intent_check,
    ADD CONSTRAINT dm_inbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE dm_outbox DROP CONSTRAINT dm_outbox_intent_check,
    ADD CONSTRAINT dm_outbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE tr_inbox DROP CONSTRAINT tr_inbox_intent_check,
    ADD CONSTRAINT tr_inbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE tr_outbox DROP CONSTRAINT tr_outbox_intent_check,
    ADD CONSTRAINT tr_outbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE vis_inbox DROP CONSTRAINT vis_inbox_intent_check,
    ADD CONSTRAINT vis_inbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE vis_outbox DROP CONSTRAINT vis_outbox_intent_check,
    ADD CONSTRAINT vis_outbox_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
ALTER TABLE dead_letter DROP CONSTRAINT dead_letter_intent_check,
    ADD CONSTRAINT dead_letter_intent_check CHECK (intent IN ('ALPHA_PROPOSED', 'ALPHA_WITHDRAWN', 'DM_DECISION', 'EXEC_REPORT', 'PRIOR_PATCH', 'PRIOR_PATCH_APPLIED', 'LESSON_PUBLISHED', 'WATCHDOG_ALERT', 'CHART_ALPHA'));
