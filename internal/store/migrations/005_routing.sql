-- Routing (issue 5): categories, custom fields, rules, agent availability
-- and capacity, and the decisions the routing transaction made.

-- Categories form a tree. They are archived, never deleted, so old tickets
-- keep a readable category.
CREATE TABLE categories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    parent_id   bigint REFERENCES categories (id),
    archived_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX categories_sibling_name ON categories (coalesce(parent_id, 0), lower(name));

-- Custom fields. key and type never change and keys are never reused (the
-- row stays, retired), so a stored value always knows its definition.
CREATE TABLE custom_fields (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key                 text NOT NULL UNIQUE CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
    label               text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 200),
    type                text NOT NULL CHECK (type IN ('text', 'long_text', 'number', 'dropdown', 'multi_choice',
                                                      'checkbox', 'date', 'datetime', 'user')),
    options             jsonb NOT NULL DEFAULT '[]',
    required            boolean NOT NULL DEFAULT false,
    required_to_resolve boolean NOT NULL DEFAULT false,
    -- Empty: the field applies to every category; otherwise to these and
    -- their subcategories.
    category_ids        bigint[] NOT NULL DEFAULT '{}',
    position            integer NOT NULL DEFAULT 0,
    retired_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE tickets
    ADD COLUMN category_id   bigint REFERENCES categories (id),
    ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN tags          text[] NOT NULL DEFAULT '{}',
    ADD COLUMN channel       text NOT NULL DEFAULT 'api' CHECK (channel IN ('web', 'api', 'email'));
CREATE INDEX tickets_category ON tickets (category_id, number DESC) WHERE category_id IS NOT NULL;
-- Containment filters (custom_fields @> '{"printer_model": "laserjet"}').
CREATE INDEX tickets_custom_fields ON tickets USING gin (custom_fields jsonb_path_ops);
-- Open load per agent, counted by every routing decision.
CREATE INDEX tickets_open_load ON tickets (assignee_id)
    WHERE assignee_id IS NOT NULL AND status IN ('open', 'in_progress', 'pending');

-- Priority and assignment rules, evaluated in (position, id) order.
CREATE TABLE rules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('priority', 'assignment')),
    position    integer NOT NULL DEFAULT 0,
    enabled     boolean NOT NULL DEFAULT true,
    conditions  jsonb NOT NULL DEFAULT '[]',
    actions     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Agents: away until a time (out of office; 'infinity' until they return),
-- a cap on open tickets automatic assignment gives them (NULL: the
-- configured default), and skills for skills-based routing.
ALTER TABLE users
    ADD COLUMN away_until timestamptz,
    ADD COLUMN capacity   integer CHECK (capacity >= 0),
    ADD COLUMN skills     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN vip        boolean NOT NULL DEFAULT false;
ALTER TABLE organizations ADD COLUMN vip boolean NOT NULL DEFAULT false;

-- The team row is what every routing decision for the team locks; it holds
-- the round-robin cursor (the member chosen last).
ALTER TABLE teams ADD COLUMN rr_cursor bigint NOT NULL DEFAULT 0;

-- Each decision is kept under (ticket, trigger, event sequence), so a
-- retried routing activity answers the first decision instead of deciding
-- (and assigning) again.
CREATE TABLE routing_decisions (
    key            text PRIMARY KEY,
    ticket_number  bigint NOT NULL REFERENCES tickets (number),
    decision       jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_decisions_ticket ON routing_decisions (ticket_number);

---- create above / drop below ----
DROP TABLE routing_decisions;
ALTER TABLE teams DROP COLUMN rr_cursor;
ALTER TABLE organizations DROP COLUMN vip;
ALTER TABLE users DROP COLUMN vip, DROP COLUMN skills, DROP COLUMN capacity, DROP COLUMN away_until;
DROP TABLE rules;
DROP INDEX tickets_open_load;
DROP INDEX tickets_custom_fields;
DROP INDEX tickets_category;
ALTER TABLE tickets DROP COLUMN channel, DROP COLUMN tags, DROP COLUMN custom_fields, DROP COLUMN category_id;
DROP TABLE custom_fields;
DROP TABLE categories;
