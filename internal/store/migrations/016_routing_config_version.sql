-- A counter that moves whenever the routing rules or the custom field
-- definitions change (any statement on either table), so store.Route can
-- keep both in memory and re-read them only when the counter moved: the
-- routing transaction reads the counter with the ticket's facts, in the
-- same round trip, instead of reading every rule and field type per
-- decision. Triggers move it, so every writer (API, an operator's SQL)
-- is seen.
CREATE TABLE routing_config_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL DEFAULT 0
);
INSERT INTO routing_config_version DEFAULT VALUES;

CREATE FUNCTION bump_routing_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE routing_config_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER rules_bump_routing_config_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_routing_config_version();
CREATE TRIGGER custom_fields_bump_routing_config_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custom_fields
    FOR EACH STATEMENT EXECUTE FUNCTION bump_routing_config_version();

---- create above / drop below ----

DROP TRIGGER custom_fields_bump_routing_config_version ON custom_fields;
DROP TRIGGER rules_bump_routing_config_version ON rules;
DROP FUNCTION bump_routing_config_version();
DROP TABLE routing_config_version;
