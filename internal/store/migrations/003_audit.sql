-- Append-only, hash-chained audit log of every access attempt and change.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint,                 -- NULL for anonymous attempts
    actor       text NOT NULL,          -- email, "token:<prefix>", "anonymous", "system"
    action      text NOT NULL,          -- e.g. "ticket.read", "auth.login"
    object      text NOT NULL DEFAULT '', -- e.g. "ticket:42"
    result      text NOT NULL CHECK (result IN ('allowed', 'denied', 'error')),
    ip          text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}',
    -- hash = SHA-256(prev_hash || canonical encoding of this row); the first
    -- row's prev_hash is 32 zero bytes. Editing or removing a row breaks the
    -- chain from there on.
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL UNIQUE
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- Appends are serialized through this one-row table so each row's prev_hash
-- is the previous row's hash.
CREATE TABLE audit_chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id    bigint NOT NULL DEFAULT 0,
    last_hash  bytea NOT NULL
);
INSERT INTO audit_chain_head (last_hash) VALUES ('\x0000000000000000000000000000000000000000000000000000000000000000');

-- The application's role may read and append, never rewrite history.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;

-- Exports already written by the audit export schedule, so a retried run
-- does not write a period twice.
CREATE TABLE audit_exports (
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    format        text NOT NULL CHECK (format IN ('csv', 'ndjson')),
    path          text NOT NULL,
    rows          bigint NOT NULL,
    last_hash     bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period_start, format)
);

---- create above / drop below ----
DROP TABLE audit_exports;
DROP TABLE audit_chain_head;
DROP TABLE audit_log;
