package temporalserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/config"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	dbschemas "go.temporal.io/server/schema"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
)

// postgresStores configures PostgreSQL persistence (executions in the
// URL's database, visibility in a second one), creating the databases and
// their schemas when missing.
func postgresStores(o Options) (map[string]config.DataStore, string, string, error) {
	u, err := url.Parse(o.PostgresURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, "", "", fmt.Errorf("temporalserver: PostgresURL: want postgres://user@host:port/database, got %q", redact(o.PostgresURL))
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "temporal"
	}
	vis := o.PostgresVisibilityDatabase
	if vis == "" {
		vis = db + "_visibility"
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	password, _ := u.User.Password()
	attrs := map[string]string{}
	for k, v := range u.Query() {
		if len(v) > 0 {
			attrs[k] = v[len(v)-1]
		}
	}
	if attrs["sslmode"] == "" {
		attrs["sslmode"] = "disable"
	}
	urlFor := func(database string) string {
		c := *u
		c.Host = host
		c.Path = "/" + database
		q := c.Query()
		for k, v := range attrs {
			q.Set(k, v)
		}
		c.RawQuery = q.Encode()
		return c.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	schemas := []struct {
		database, file, version string
	}{
		{db, "postgresql/v12/temporal/schema.sql", pgschema.Version},
		{vis, "postgresql/v12/visibility/schema.sql", pgschema.VisibilityVersion},
	}
	for _, s := range schemas {
		if err := ensureDatabase(ctx, urlFor("postgres"), s.database); err != nil {
			return nil, "", "", err
		}
		if err := ensureSchema(ctx, urlFor(s.database), s.database, s.file, s.version); err != nil {
			return nil, "", "", err
		}
	}
	sqlConf := func(database string) *config.SQL {
		return &config.SQL{
			PluginName:        pgplugin.PluginNamePGX,
			ConnectAddr:       host,
			ConnectProtocol:   "tcp",
			User:              u.User.Username(),
			Password:          password,
			DatabaseName:      database,
			ConnectAttributes: attrs,
			// Temporal's own development-postgres12 configuration.
			MaxConns:        20,
			MaxIdleConns:    20,
			MaxConnLifetime: time.Hour,
		}
	}
	stores := map[string]config.DataStore{
		"postgres":            {SQL: sqlConf(db)},
		"postgres-visibility": {SQL: sqlConf(vis)},
	}
	return stores, "postgres", "postgres-visibility", nil
}

// ensureDatabase creates database unless it exists; adminURL points at a
// database that always exists ("postgres").
func ensureDatabase(ctx context.Context, adminURL, database string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("temporalserver: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, database).Scan(&exists); err != nil {
		return fmt.Errorf("temporalserver: look up database %s: %w", database, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("temporalserver: create database %s: %w", database, err)
	}
	return nil
}

// ensureSchema applies this server version's schema to an empty database,
// with the version bookkeeping temporal-sql-tool setup-schema writes, in
// one transaction (PostgreSQL DDL is transactional, so a failure leaves
// the database empty). A database that already has a schema is left as it
// is: the server checks its version at start and names the upgrade needed.
func ensureSchema(ctx context.Context, dbURL, database, file, version string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("temporalserver: connect to database %s: %w", database, err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("temporalserver: %s: %w", database, err)
	}
	defer tx.Rollback(context.Background())
	// Two servers starting on the same fresh database: one sets it up.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('temporalserver schema setup'))`); err != nil {
		return fmt.Errorf("temporalserver: %s: lock: %w", database, err)
	}
	var present bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('public.schema_version') IS NOT NULL`).Scan(&present); err != nil {
		return fmt.Errorf("temporalserver: %s: %w", database, err)
	}
	if present {
		return nil
	}
	var tables int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
		return fmt.Errorf("temporalserver: %s: %w", database, err)
	}
	if tables > 0 {
		return fmt.Errorf("temporalserver: database %s has tables but no Temporal schema_version; use an empty database", database)
	}
	schema, err := fs.ReadFile(dbschemas.Assets(), file)
	if err != nil {
		return fmt.Errorf("temporalserver: read embedded %s: %w", file, err)
	}
	// The same tables the server's admin DB (and temporal-sql-tool) create.
	const versionTables = `
CREATE TABLE schema_version (version_partition INT not null, db_name VARCHAR(255) not null,
  creation_time TIMESTAMP, curr_version VARCHAR(64), min_compatible_version VARCHAR(64),
  PRIMARY KEY (version_partition, db_name));
CREATE TABLE schema_update_history (version_partition INT not null, year int not null,
  month int not null, update_time TIMESTAMP not null, description VARCHAR(255),
  manifest_md5 VARCHAR(64), new_version VARCHAR(64), old_version VARCHAR(64),
  PRIMARY KEY (version_partition, year, month, update_time));
`
	// The simple protocol runs a whole file of statements (dollar-quoted
	// function bodies included) like psql does.
	for _, script := range []string{versionTables, string(schema)} {
		if _, err := tx.Exec(ctx, script, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("temporalserver: set up schema of %s (%s): %w", database, file, err)
		}
	}
	now := time.Now().UTC()
	if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version_partition, db_name, creation_time, curr_version, min_compatible_version)
VALUES (0, $1, $2, $3, $3)`, database, now, version); err != nil {
		return fmt.Errorf("temporalserver: %s: write schema version: %w", database, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_update_history (version_partition, year, month, update_time, old_version, new_version, manifest_md5, description)
VALUES (0, $1, $2, $3, '0', $4, '', 'initial version')`, now.Year(), int(now.Month()), now, version); err != nil {
		return fmt.Errorf("temporalserver: %s: write schema history: %w", database, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("temporalserver: %s: commit schema: %w", database, err)
	}
	return nil
}

// redact hides a URL's password in messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
