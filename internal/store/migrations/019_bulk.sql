-- Bulk actions (issue 20): a job is one person's change and/or comment
-- applied to a set of tickets by the bulk workflow. Its set is resolved
-- once into bulk_items (a snapshot: tickets matching later are not
-- added), and each item records its outcome as it is processed, which is
-- what GET /bulk/{id} reads. Every event a bulk action writes names it in
-- ticket_events.bulk_id, so a ticket's history shows which action changed
-- it (and a retry can tell that it already did).
CREATE TABLE bulk_jobs (
    id                  text PRIMARY KEY,
    created_by          bigint NOT NULL REFERENCES users (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- Exactly one of query (the query language, with the time zone its
    -- relative dates are read in) and ids (ticket numbers as sent, without
    -- repeats).
    query               text,
    time_zone           text NOT NULL DEFAULT '',
    ids                 bigint[],
    change              jsonb NOT NULL DEFAULT '{}',
    comment_body        text,
    comment_internal    boolean NOT NULL DEFAULT false,
    -- request_hash tells a repeat of the request (same Idempotency-Key,
    -- same body) from a reuse of its key for another one.
    request_hash        text NOT NULL DEFAULT '',
    state               text NOT NULL DEFAULT 'running'
                        CHECK (state IN ('running', 'completed', 'cancelled', 'failed')),
    total               integer NOT NULL DEFAULT 0,
    snapshot_at         timestamptz,
    cancel_requested_at timestamptz,
    finished_at         timestamptz,
    error               text,
    CHECK ((query IS NULL) <> (ids IS NULL))
);
CREATE INDEX bulk_jobs_by_creator ON bulk_jobs (created_by, created_at DESC);

CREATE TABLE bulk_items (
    job_id   text NOT NULL REFERENCES bulk_jobs (id) ON DELETE CASCADE,
    -- Not a foreign key: a number that names no ticket is an item too
    -- (it fails as not_found).
    ticket   bigint NOT NULL,
    position integer NOT NULL,
    state    text NOT NULL DEFAULT 'pending'
             CHECK (state IN ('pending', 'succeeded', 'skipped', 'failed', 'cancelled')),
    reason   text,
    detail   text,
    attempts integer NOT NULL DEFAULT 0,
    done_at  timestamptz,
    PRIMARY KEY (job_id, ticket)
);
CREATE INDEX bulk_items_pending ON bulk_items (job_id, position) WHERE state = 'pending';
CREATE INDEX bulk_items_failed ON bulk_items (job_id, position) WHERE state = 'failed';

-- Nullable without a default: adding it rewrites nothing.
ALTER TABLE ticket_events ADD COLUMN bulk_id text;

---- create above / drop below ----

ALTER TABLE ticket_events DROP COLUMN bulk_id;
DROP TABLE bulk_items;
DROP TABLE bulk_jobs;
