-- Oversized mail (over mail_max_message_bytes) is no longer fetched whole:
-- the intake keeps its header section and the first 64 KiB of its body in
-- quarantine, and so does mail over a sender's rate limit (issue 18).
-- truncated marks such an entry: raw is a prefix and size_bytes the size of
-- the whole message. A truncated entry cannot be released (nothing can be
-- processed from a prefix). Rows from before this migration hold the whole
-- message.
ALTER TABLE mail_quarantine ADD COLUMN truncated boolean NOT NULL DEFAULT false;

---- create above / drop below ----

ALTER TABLE mail_quarantine DROP COLUMN truncated;
