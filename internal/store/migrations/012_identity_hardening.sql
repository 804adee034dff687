-- Identity hardening (issue 18).
--
-- Roles: where a user's role comes from. manual_role is the role an admin
-- (or the CLI, the dev seed, the intake creating a requester) set by hand;
-- single sign-on never sets a role below it. role_source says which of the
-- two decided the current role: 'manual' (the admin's) or 'sso' (the
-- provider's groups mapped to more than that, or no role was ever set by
-- hand). Accounts that single sign-on created and that have no password
-- keep following their groups ('sso', no manual role); every other
-- existing account's role counts as set by hand, so a later SSO sign-in
-- may raise it but never lowers it.
ALTER TABLE users ADD COLUMN role_source text NOT NULL DEFAULT 'manual'
    CHECK (role_source IN ('manual', 'sso'));
ALTER TABLE users ADD COLUMN manual_role text
    CHECK (manual_role IN ('requester', 'agent', 'lead', 'admin'));
UPDATE users SET role_source = 'sso' WHERE oidc_subject IS NOT NULL AND password_hash IS NULL;
UPDATE users SET manual_role = role WHERE role_source = 'manual';

-- API tokens: the bootstrap token (bootstrap_token option) is marked so the
-- next start can revoke it when the option changes or is removed; a token
-- made with another token records its parent, so revoking the parent
-- revokes what it made. Bootstrap tokens registered before this migration
-- are those named "bootstrap" whose listed prefix is a prefix of their hash
-- (only operator-chosen secrets are listed that way).
ALTER TABLE api_tokens ADD COLUMN bootstrap boolean NOT NULL DEFAULT false;
ALTER TABLE api_tokens ADD COLUMN parent_id bigint REFERENCES api_tokens (id) ON DELETE SET NULL;
UPDATE api_tokens SET bootstrap = true
WHERE name = 'bootstrap' AND prefix = substr(encode(token_hash, 'hex'), 1, 8);
CREATE INDEX api_tokens_bootstrap ON api_tokens (id) WHERE bootstrap AND revoked_at IS NULL;
CREATE INDEX api_tokens_parent ON api_tokens (parent_id) WHERE parent_id IS NOT NULL;

---- create above / drop below ----
DROP INDEX api_tokens_parent;
DROP INDEX api_tokens_bootstrap;
ALTER TABLE api_tokens DROP COLUMN parent_id;
ALTER TABLE api_tokens DROP COLUMN bootstrap;
ALTER TABLE users DROP COLUMN manual_role;
ALTER TABLE users DROP COLUMN role_source;
