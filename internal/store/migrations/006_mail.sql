-- The email channel (issue 6): every message in or out, the raw bytes kept,
-- quarantine, and each mailbox's IMAP checkpoint.

-- One row per message the help desk received or sent. dedupe_key is the
-- Message-ID ("mid:<lower-cased id>") or the SHA-256 of the raw message
-- ("sha256:<hex>") when it has none: the UNIQUE constraint is what makes
-- processing a message twice harmless. content_hash tells a redelivery of
-- the same message from a different message reusing its Message-ID.
CREATE TABLE mail_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key    text NOT NULL UNIQUE,
    content_hash  text NOT NULL,
    direction     text NOT NULL CHECK (direction IN ('in', 'out')),
    mailbox       text NOT NULL DEFAULT '',
    message_id    text NOT NULL DEFAULT '',
    from_address  text NOT NULL DEFAULT '',
    subject       text NOT NULL DEFAULT '',
    kind          text NOT NULL DEFAULT 'human',
    -- processing until the ticket or comment is durable; then what became
    -- of it: ticket, comment, followup, bounce, ignored (auto-replies,
    -- lists, loops: kept, never acted on), sent (outbound).
    outcome       text NOT NULL DEFAULT 'processing'
                  CHECK (outcome IN ('processing', 'ticket', 'comment', 'followup', 'bounce', 'ignored', 'sent')),
    reason        text NOT NULL DEFAULT '',
    ticket_number bigint REFERENCES tickets (number),
    comment_id    bigint,
    size_bytes    bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz
);
CREATE INDEX mail_messages_message_id ON mail_messages (lower(message_id)) WHERE message_id <> '';
CREATE INDEX mail_messages_ticket ON mail_messages (ticket_number) WHERE ticket_number IS NOT NULL;
-- The per-sender rate limit counts recent inbound mail.
CREATE INDEX mail_messages_sender ON mail_messages (from_address, created_at) WHERE direction = 'in';

-- The original bytes, downloadable, apart from the row so lists stay small.
CREATE TABLE mail_raw (
    mail_id bigint PRIMARY KEY REFERENCES mail_messages (id),
    raw     bytea NOT NULL
);

-- Mail the intake would not act on: too large, unparseable, rate-limited,
-- a Message-ID reused with other content. Kept with the raw message until
-- an admin releases it (processed again, the reason's check waived).
CREATE TABLE mail_quarantine (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox      text NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    dedupe_key   text NOT NULL,
    content_hash text NOT NULL,
    message_id   text NOT NULL DEFAULT '',
    from_address text NOT NULL DEFAULT '',
    subject      text NOT NULL DEFAULT '',
    size_bytes   bigint NOT NULL,
    raw          bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz,
    released_by  bigint REFERENCES users (id),
    -- what the release made of it (a mail_messages row)
    released_mail_id bigint REFERENCES mail_messages (id),
    -- the same bytes quarantined again (an intake restart) are one entry
    UNIQUE (content_hash, reason)
);
CREATE INDEX mail_quarantine_open ON mail_quarantine (id) WHERE released_at IS NULL;

-- Each mailbox's checkpoint: every UID up to last_uid under uid_validity is
-- durable (ticket, comment, ignored or quarantined) and done in IMAP.
CREATE TABLE mailbox_checkpoints (
    mailbox      text PRIMARY KEY,
    uid_validity bigint NOT NULL,
    last_uid     bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----
DROP TABLE mailbox_checkpoints;
DROP TABLE mail_quarantine;
DROP TABLE mail_raw;
DROP TABLE mail_messages;
