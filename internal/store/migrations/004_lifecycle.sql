-- Lifecycle: tickets are assigned to users (not free text), carry their SLA
-- deadlines and escalation level for sorting, and keep comments, attachments
-- and an outbox of notifications beside their event history.

ALTER TABLE tickets ADD COLUMN assignee_id bigint REFERENCES users (id);
UPDATE tickets t SET assignee_id = u.id FROM users u WHERE lower(u.email) = lower(t.assignee);
ALTER TABLE tickets DROP COLUMN assignee;

ALTER TABLE tickets
    ADD COLUMN sla_due_at            timestamptz,
    ADD COLUMN first_response_due_at timestamptz,
    ADD COLUMN resolution_due_at     timestamptz,
    ADD COLUMN first_responded_at    timestamptz,
    ADD COLUMN resolved_at           timestamptz,
    ADD COLUMN closed_at             timestamptz,
    ADD COLUMN expired_at            timestamptz,
    -- archived_at: the reopen window ended and the ticket's workflow
    -- completed; a later reply opens a new ticket linked to this one.
    ADD COLUMN archived_at           timestamptz,
    ADD COLUMN escalation_level      integer NOT NULL DEFAULT 0,
    ADD COLUMN reopen_count          integer NOT NULL DEFAULT 0,
    ADD COLUMN linked_ticket         bigint REFERENCES tickets (number),
    ADD COLUMN priority_rank         smallint GENERATED ALWAYS AS (
        CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END) STORED;

-- The work queue order: most urgent priority, then the earliest SLA
-- deadline (none last), then the oldest.
CREATE INDEX tickets_urgency ON tickets
    (priority_rank, (coalesce(sla_due_at, 'infinity'::timestamptz)), created_at, number);
CREATE INDEX tickets_unassigned_open ON tickets
    (priority_rank, (coalesce(sla_due_at, 'infinity'::timestamptz)), created_at, number)
    WHERE assignee_id IS NULL AND status IN ('open', 'in_progress');
CREATE INDEX tickets_assignee ON tickets (assignee_id) WHERE assignee_id IS NOT NULL;

-- ticket_requests holds the text of a change (comment body, new subject or
-- description) under its request ID until the workflow applies it, so text
-- never enters Temporal history. Rows are purged after the idempotency TTL.
CREATE TABLE ticket_requests (
    request_id     text PRIMARY KEY,
    ticket_number  bigint NOT NULL REFERENCES tickets (number),
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_requests_created_at ON ticket_requests (created_at);

ALTER TABLE comments ADD COLUMN author_id bigint REFERENCES users (id);

-- attachments are stored by the API before the workflow records them; seq
-- stays NULL until the "attachment" event is durable, and only attachments
-- with a seq are served.
CREATE TABLE attachments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_number  bigint NOT NULL REFERENCES tickets (number),
    request_id     text NOT NULL UNIQUE,
    seq            bigint,
    filename       text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    content_type   text NOT NULL,
    size           bigint NOT NULL CHECK (size >= 0),
    sha256         bytea NOT NULL,
    content        bytea NOT NULL,
    internal       boolean NOT NULL DEFAULT false,
    uploader_id    bigint REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (ticket_number, seq) REFERENCES ticket_events (ticket_number, seq)
);
CREATE INDEX attachments_ticket ON attachments (ticket_number);

-- outbox: notification requests written in the same transaction as the
-- event that causes them; the notification channels deliver and mark them.
CREATE TABLE outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_number  bigint NOT NULL REFERENCES tickets (number),
    seq            bigint NOT NULL,
    kind           text NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    delivered_at   timestamptz,
    UNIQUE (ticket_number, seq, kind)
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

---- create above / drop below ----
DROP TABLE outbox;
DROP TABLE attachments;
ALTER TABLE comments DROP COLUMN author_id;
DROP TABLE ticket_requests;
DROP INDEX tickets_assignee;
DROP INDEX tickets_unassigned_open;
DROP INDEX tickets_urgency;
ALTER TABLE tickets DROP COLUMN priority_rank, DROP COLUMN linked_ticket, DROP COLUMN reopen_count,
    DROP COLUMN escalation_level, DROP COLUMN archived_at, DROP COLUMN expired_at, DROP COLUMN closed_at,
    DROP COLUMN resolved_at, DROP COLUMN first_responded_at, DROP COLUMN resolution_due_at,
    DROP COLUMN first_response_due_at, DROP COLUMN sla_due_at;
ALTER TABLE tickets ADD COLUMN assignee text;
UPDATE tickets t SET assignee = u.email FROM users u WHERE u.id = t.assignee_id;
ALTER TABLE tickets DROP COLUMN assignee_id;
