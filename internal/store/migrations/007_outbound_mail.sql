-- Outbound mail (issue 6): which outbox notifications have been mailed, and
-- whether the mail that opened a ticket asked not to be answered
-- automatically (X-Auto-Response-Suppress).

-- pending until the mailer sent it (sent), decided not to (skipped, with
-- the reason), or gave up (failed). Notifications written before this
-- migration are not mailed.
ALTER TABLE outbox ADD COLUMN email_state text NOT NULL DEFAULT 'skipped'
    CHECK (email_state IN ('pending', 'sent', 'skipped', 'failed'));
ALTER TABLE outbox ALTER COLUMN email_state SET DEFAULT 'pending';
ALTER TABLE outbox ADD COLUMN email_reason text NOT NULL DEFAULT '';
CREATE INDEX outbox_email_pending ON outbox (id) WHERE email_state = 'pending';

ALTER TABLE mail_messages ADD COLUMN suppress_auto_reply boolean NOT NULL DEFAULT false;
-- A claimed message can end in quarantine too (rate limit, refused by its
-- ticket): the row says so and points nowhere.
ALTER TABLE mail_messages DROP CONSTRAINT mail_messages_outcome_check;
ALTER TABLE mail_messages ADD CONSTRAINT mail_messages_outcome_check
    CHECK (outcome IN ('processing', 'ticket', 'comment', 'followup', 'bounce', 'ignored', 'sent', 'quarantined'));
ALTER TABLE mail_messages ADD COLUMN outbox_id bigint REFERENCES outbox (id);

---- create above / drop below ----
DELETE FROM mail_raw WHERE mail_id IN (SELECT id FROM mail_messages WHERE outcome = 'quarantined');
DELETE FROM mail_messages WHERE outcome = 'quarantined';
ALTER TABLE mail_messages DROP CONSTRAINT mail_messages_outcome_check;
ALTER TABLE mail_messages ADD CONSTRAINT mail_messages_outcome_check
    CHECK (outcome IN ('processing', 'ticket', 'comment', 'followup', 'bounce', 'ignored', 'sent'));
ALTER TABLE mail_messages DROP COLUMN outbox_id;
ALTER TABLE mail_messages DROP COLUMN suppress_auto_reply;
DROP INDEX outbox_email_pending;
ALTER TABLE outbox DROP COLUMN email_reason;
ALTER TABLE outbox DROP COLUMN email_state;
