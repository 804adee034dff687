-- A user's time zone (issue 20): the zone their searches' days and ages
-- are read in ("created:2026-11-01", the UI's dates). An IANA name the API
-- checked against the zone database linked into the binary (time/tzdata);
-- NULL follows the default, the business calendar's zone (UTC without
-- one), so changing that default moves everyone who never chose.
ALTER TABLE users ADD COLUMN time_zone text CHECK (char_length(time_zone) BETWEEN 1 AND 64);

-- The principal that API processes cache carries the time zone, so a
-- change of it must be announced like a change of name or role
-- (migration 013).
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.email IS DISTINCT FROM NEW.email OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
          OR OLD.time_zone IS DISTINCT FROM NEW.time_zone)
    EXECUTE FUNCTION identity_notify();

---- create above / drop below ----
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.email IS DISTINCT FROM NEW.email OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.organization_id IS DISTINCT FROM NEW.organization_id)
    EXECUTE FUNCTION identity_notify();
ALTER TABLE users DROP COLUMN time_zone;
