-- Saved views (issue 20): a name, a search query and a sort, kept by a
-- staff member for themselves (personal), shared with one team (team) or
-- with all staff (everyone). Who may share where is the API's rule
-- (internal/savedview); the table keeps each row coherent. Built-in views
-- (My open, …) are not stored.
CREATE TABLE views (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The query as its author typed it (internal/query parses it).
    query       text NOT NULL CHECK (octet_length(query) <= 2048),
    sort        text NOT NULL CHECK (sort IN ('relevance', 'urgency', 'created', '-created', 'updated', '-updated')),
    visibility  text NOT NULL CHECK (visibility IN ('personal', 'team', 'everyone')),
    -- A team view's team; a team that is removed takes its views along.
    team_id     bigint REFERENCES teams (id) ON DELETE CASCADE,
    -- Order within its group of the list (then name).
    position    integer NOT NULL DEFAULT 0 CHECK (position BETWEEN 0 AND 10000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((visibility = 'team') = (team_id IS NOT NULL))
);
-- One owner does not keep two views of the same name, in any case.
CREATE UNIQUE INDEX views_owner_name ON views (owner_id, lower(name));
CREATE INDEX views_team ON views (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX views_everyone ON views (id) WHERE visibility = 'everyone';

---- create above / drop below ----
DROP TABLE views;
