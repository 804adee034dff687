-- Every API process caches who holds a session or token (identity's
-- PrincipalCache). These triggers announce on channel identity_changed,
-- when the change commits, everything that alters or ends a principal, so
-- every process drops the cached entry within moments, whoever made the
-- change: the API, `helpdesk users`, single sign-on, the bootstrap token,
-- or SQL typed by an operator. Payloads (pgbus, far below its 8000-byte
-- limit) name what changed, never a secret:
--   token:<api_tokens.id>     session:<sessions.id>
--   user:<users.id>           org:<organizations.id>
-- Updates that cannot change a principal (last_seen_at, last_used_at, an
-- agent's availability or skills, a team's round-robin cursor) stay quiet,
-- or every request's bookkeeping would empty the caches.

CREATE FUNCTION identity_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'api_tokens' THEN
        PERFORM pg_notify('identity_changed', 'token:' || OLD.id);
    WHEN 'sessions' THEN
        PERFORM pg_notify('identity_changed', 'session:' || OLD.id);
    WHEN 'users' THEN
        PERFORM pg_notify('identity_changed', 'user:' || OLD.id);
    WHEN 'organizations' THEN
        PERFORM pg_notify('identity_changed', 'org:' || OLD.id);
    WHEN 'team_members' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('identity_changed', 'user:' || OLD.user_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify('identity_changed', 'user:' || NEW.user_id);
        END IF;
    WHEN 'teams' THEN
        IF TG_OP <> 'INSERT' AND OLD.lead_id IS NOT NULL THEN
            PERFORM pg_notify('identity_changed', 'user:' || OLD.lead_id);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.lead_id IS NOT NULL THEN
            PERFORM pg_notify('identity_changed', 'user:' || NEW.lead_id);
        END IF;
    END CASE;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_notify AFTER UPDATE ON api_tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.scopes IS DISTINCT FROM NEW.scopes OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.token_hash IS DISTINCT FROM NEW.token_hash)
    EXECUTE FUNCTION identity_notify();
CREATE TRIGGER api_tokens_notify_delete AFTER DELETE ON api_tokens FOR EACH ROW
    EXECUTE FUNCTION identity_notify();

CREATE TRIGGER sessions_notify AFTER UPDATE ON sessions FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.token_hash IS DISTINCT FROM NEW.token_hash)
    EXECUTE FUNCTION identity_notify();
CREATE TRIGGER sessions_notify_delete AFTER DELETE ON sessions FOR EACH ROW
    EXECUTE FUNCTION identity_notify();

CREATE TRIGGER users_notify AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.email IS DISTINCT FROM NEW.email OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.organization_id IS DISTINCT FROM NEW.organization_id)
    EXECUTE FUNCTION identity_notify();
CREATE TRIGGER users_notify_delete AFTER DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION identity_notify();

CREATE TRIGGER organizations_notify AFTER UPDATE ON organizations FOR EACH ROW
    WHEN (OLD.shared_tickets IS DISTINCT FROM NEW.shared_tickets)
    EXECUTE FUNCTION identity_notify();
CREATE TRIGGER organizations_notify_delete AFTER DELETE ON organizations FOR EACH ROW
    EXECUTE FUNCTION identity_notify();

CREATE TRIGGER team_members_notify AFTER INSERT OR UPDATE OR DELETE ON team_members FOR EACH ROW
    EXECUTE FUNCTION identity_notify();

CREATE TRIGGER teams_notify AFTER INSERT OR DELETE ON teams FOR EACH ROW
    EXECUTE FUNCTION identity_notify();
CREATE TRIGGER teams_notify_lead AFTER UPDATE ON teams FOR EACH ROW
    WHEN (OLD.lead_id IS DISTINCT FROM NEW.lead_id)
    EXECUTE FUNCTION identity_notify();

---- create above / drop below ----
DROP TRIGGER teams_notify_lead ON teams;
DROP TRIGGER teams_notify ON teams;
DROP TRIGGER team_members_notify ON team_members;
DROP TRIGGER organizations_notify_delete ON organizations;
DROP TRIGGER organizations_notify ON organizations;
DROP TRIGGER users_notify_delete ON users;
DROP TRIGGER users_notify ON users;
DROP TRIGGER sessions_notify_delete ON sessions;
DROP TRIGGER sessions_notify ON sessions;
DROP TRIGGER api_tokens_notify_delete ON api_tokens;
DROP TRIGGER api_tokens_notify ON api_tokens;
DROP FUNCTION identity_notify();
