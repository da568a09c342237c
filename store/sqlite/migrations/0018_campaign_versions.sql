-- Campaigns are written over the version they were read at (a cancel and
-- the campaign's job never overwrite each other), group campaigns keep one
-- send per group, and the opt-outs after a campaign are found by action
-- and time in the audit log.

ALTER TABLE campaigns ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

ALTER TABLE campaign_sends ADD COLUMN chat_id TEXT NOT NULL DEFAULT '';

CREATE INDEX audit_action ON audit (action, at);
