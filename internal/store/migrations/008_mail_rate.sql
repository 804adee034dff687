-- The per-sender rate limit (issue 6) is decided when a message is claimed,
-- under a per-sender advisory lock, and recorded on the row: how many
-- messages from the same sender were received within mail_rate_window
-- before this one. Counting later, outside that lock, let concurrent
-- claims each miss the others' uncommitted rows and all pass the limit.
-- Rows from before this migration count as 0 (not limited).
ALTER TABLE mail_messages ADD COLUMN sender_recent integer NOT NULL DEFAULT 0;
