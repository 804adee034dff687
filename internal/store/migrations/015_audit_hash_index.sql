-- audit_log.hash carried a UNIQUE index: one insert into a B-tree keyed by
-- a random 32-byte value for every audit row, which touched a random leaf
-- page each time (and wrote it whole to the WAL after each checkpoint).
-- It cost about 8 of the 21 µs of PostgreSQL CPU per row (bench/auditrow),
-- and nothing needs it: the chain is verified by walking ids, a SHA-256
-- collision is not a risk worth an index, and the one lookup by hash (was
-- an ambiguous commit stored?) narrows by the batch's exact `at` first,
-- which audit_log_at indexes.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_hash_key;

---- create above / drop below ----

ALTER TABLE audit_log ADD CONSTRAINT audit_log_hash_key UNIQUE (hash);
