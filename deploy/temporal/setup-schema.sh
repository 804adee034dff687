#!/bin/sh
# Creates or upgrades the Temporal server's PostgreSQL schemas (persistence and
# visibility). Runs in the temporalio/admin-tools image, once per
# `docker compose up`, before the server starts. Every step is idempotent:
# `create` ignores an existing database, `setup-schema -v 0.0` only adds the
# version tables, and `update-schema` applies just the versions not yet applied.
#
# Connection settings come from the environment, read by temporal-sql-tool:
# SQL_PLUGIN (postgres12), SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD.
set -eu

schema_root=/etc/temporal/schema/postgresql/v12

# Database names are the server image's defaults (DBNAME, VISIBILITY_DBNAME).
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  kind=${db#*:}
  echo "temporal schema: ${name} (${kind})"
  temporal-sql-tool --db "${name}" create-database
  temporal-sql-tool --db "${name}" setup-schema -v 0.0
  temporal-sql-tool --db "${name}" update-schema -d "${schema_root}/${kind}/versioned"
done

echo "temporal schema: up to date"
