-- Anonymous denied attempts (no or invalid credentials, failed sign-ins)
-- are counted here per minute, client address and action, instead of one
-- audit_log row each: audit_log is append-only, so one row per attempt
-- would let anyone grow it without bound. When a minute is over, each of
-- its rows moves into audit_log as one hash-chained row with the exact
-- count, in the same transaction that deletes it here
-- (internal/audit/denials.go).
CREATE TABLE audit_denials (
    minute     timestamptz NOT NULL,  -- start of the minute
    ip         text NOT NULL,
    action     text NOT NULL,
    count      bigint NOT NULL DEFAULT 0,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    -- the first attempt: {"object", "user_agent", "request_id", "detail"}
    first      jsonb NOT NULL,
    -- up to 8 distinct (object, detail) pairs with their counts, and how
    -- many attempts were not among them
    breakdown  jsonb NOT NULL DEFAULT '[]',
    other      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, ip, action)
);

---- create above / drop below ----
DROP TABLE audit_denials;
