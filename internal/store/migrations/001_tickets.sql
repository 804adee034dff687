-- Ticket numbers are handed out by this sequence when a creation request is
-- first seen; the number names the ticket's workflow (ticket-<number>).
CREATE SEQUENCE ticket_number_seq AS bigint START 1;

-- idempotency_keys reserves a ticket number for a creation request before the
-- workflow starts. The request payload waits here until the workflow's
-- persist activity materializes the ticket, so ticket bodies never enter
-- Temporal history and a crash between reservation and start loses nothing.
CREATE TABLE idempotency_keys (
    key            text PRIMARY KEY,
    request_hash   bytea NOT NULL,
    ticket_number  bigint NOT NULL UNIQUE,
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE TABLE tickets (
    number       bigint PRIMARY KEY,
    subject      text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 255),
    description  text NOT NULL DEFAULT '',
    status       text NOT NULL CHECK (status IN ('open', 'in_progress', 'pending', 'resolved', 'closed')),
    priority     text NOT NULL CHECK (priority IN ('critical', 'high', 'medium', 'low')),
    assignee     text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    -- last_seq is the sequence of the newest ticket_events row applied here.
    last_seq     bigint NOT NULL
);
CREATE INDEX tickets_status_priority ON tickets (status, priority);

-- ticket_events is the append-only history of every change to a ticket.
-- (ticket_number, seq) is the idempotency key of every activity that writes.
CREATE TABLE ticket_events (
    ticket_number  bigint NOT NULL REFERENCES tickets (number),
    seq            bigint NOT NULL CHECK (seq > 0),
    kind           text NOT NULL,
    actor          text NOT NULL,
    data           jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (ticket_number, seq)
);

CREATE TABLE comments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_number  bigint NOT NULL REFERENCES tickets (number),
    seq            bigint NOT NULL,
    author         text NOT NULL,
    body           text NOT NULL,
    internal       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    UNIQUE (ticket_number, seq),
    FOREIGN KEY (ticket_number, seq) REFERENCES ticket_events (ticket_number, seq)
);

---- create above / drop below ----
DROP TABLE comments;
DROP TABLE ticket_events;
DROP TABLE tickets;
DROP TABLE idempotency_keys;
DROP SEQUENCE ticket_number_seq;
