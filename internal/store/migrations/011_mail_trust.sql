-- Mail sender trust and signed outbound mail (issue 18).

-- A comment from mail that claimed a staff member's address without being
-- authenticated is kept as that person's words only as a participant's
-- message, flagged so the web UI and API say so.
ALTER TABLE comments ADD COLUMN unverified_sender boolean NOT NULL DEFAULT false;

-- Keys every process must share, generated once by whichever process needs
-- one first (the HMAC key of outbound Message-IDs and return paths when
-- mail_secret is unset).
CREATE TABLE shared_secrets (
    name       text PRIMARY KEY,
    secret     bytea NOT NULL CHECK (octet_length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----
DROP TABLE shared_secrets;
ALTER TABLE comments DROP COLUMN unverified_sender;
