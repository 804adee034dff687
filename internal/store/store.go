// Package store is helpdesk's PostgreSQL system of record: plain SQL over a
// pgx pool, one file per entity, and the versioned schema migrations.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store wraps the connection pool with the queries helpdesk needs.
type Store struct {
	pool *pgxpool.Pool
	// route holds the routing rules and field types as of a
	// routing_config_version (see routeConfig).
	route routeCache
}

// Timeouts are the limits PostgreSQL puts on a session's statements: one
// running longer than Statement, or waiting longer than Lock for a lock, is
// cancelled (SQLSTATE 57014 or 55P03). Zero is no limit.
type Timeouts struct {
	Statement, Lock time.Duration
}

// DefaultTimeouts are a pooled session's limits unless Open is told
// otherwise (the defaults of db_statement_timeout and db_lock_timeout).
var DefaultTimeouts = Timeouts{Statement: 30 * time.Second, Lock: 10 * time.Second}

// Work that may take longer than a request sets its own limits for its
// transaction with SetLocalTimeouts.
var (
	// MigrationTimeouts: a migration may rewrite a large table, but it must
	// not queue behind a long transaction for its lock, because every query
	// on that table would then queue behind the migration.
	MigrationTimeouts = Timeouts{Statement: 0, Lock: 10 * time.Second}
	// ExportTimeouts: an export reads a whole period in one statement and
	// waits for a concurrent export of the same period; the caller's
	// context (the activity's timeout) bounds it.
	ExportTimeouts = Timeouts{Statement: 0, Lock: 0}
)

// Option changes how Open sets up the pool.
type Option func(*pgxpool.Config)

// WithTimeouts gives every pooled session these limits instead of
// DefaultTimeouts. A statement_timeout or lock_timeout in the URL still
// wins.
func WithTimeouts(t Timeouts) Option {
	return func(cfg *pgxpool.Config) { setTimeoutParams(cfg.ConnConfig.RuntimeParams, t, false) }
}

// setTimeoutParams writes t as startup parameters, keeping those already
// there (from the URL) unless replace is set.
func setTimeoutParams(params map[string]string, t Timeouts, replace bool) {
	for name, d := range map[string]time.Duration{"statement_timeout": t.Statement, "lock_timeout": t.Lock} {
		if _, ok := params[name]; ok && !replace {
			continue
		}
		params[name] = millis(d)
	}
}

// millis is d in PostgreSQL's unit for timeouts, rounded up so that a
// positive limit never becomes 0 (no limit).
func millis(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// SetLocalTimeouts overrides the session's statement_timeout and
// lock_timeout for the rest of tx (SET LOCAL), for work that is allowed to
// take longer than a request: migrations, reindexing, exports and reports.
func SetLocalTimeouts(ctx context.Context, tx pgx.Tx, t Timeouts) error {
	return setLocalTimeouts(ctx, tx, t)
}

func setLocalTimeouts(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, t Timeouts) error {
	if _, err := q.Exec(ctx, `SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)`,
		millis(t.Statement), millis(t.Lock)); err != nil {
		return fmt.Errorf("store: set local timeouts: %w", err)
	}
	return nil
}

// Open connects to PostgreSQL at url and checks the connection. Every
// pooled session gets DefaultTimeouts unless an option says otherwise.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if len(opts) == 0 {
		opts = []Option{WithTimeouts(DefaultTimeouts)}
	}
	for _, o := range opts {
		o(cfg)
	}
	// pgx defaults to max(4, CPUs) connections, which queues API requests
	// and activities behind each other on small machines. A pool_max_conns
	// parameter in the URL still wins.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the pool for tests and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Migrate brings the schema to the newest version. Tern holds an advisory
// lock while it runs, so several processes starting at once are safe: the
// session waits for it without a limit, and each migration's transaction
// runs under MigrationTimeouts.
func Migrate(ctx context.Context, url string) (from, to int32, err error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return 0, 0, fmt.Errorf("store: migrate: parse database url: %w", err)
	}
	setTimeoutParams(cc.RuntimeParams, Timeouts{}, true)
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return 0, 0, fmt.Errorf("store: migrate: connect: %w", err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		return 0, 0, fmt.Errorf("store: migrate: %w", err)
	}
	// OnStart runs inside the migration's transaction, before its SQL. A
	// failure aborts that transaction, so the migration fails with it.
	var limitErr error
	m.OnStart = func(int32, string, string, string) {
		if err := setLocalTimeouts(ctx, conn, MigrationTimeouts); err != nil && limitErr == nil {
			limitErr = err
		}
	}
	defer func() {
		if err != nil && limitErr != nil {
			err = fmt.Errorf("%w (%w)", err, limitErr)
		}
	}()
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, 0, fmt.Errorf("store: migrate: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return 0, 0, fmt.Errorf("store: migrate: load: %w", err)
	}
	from, err = m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("store: migrate: current version: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return from, 0, fmt.Errorf("store: migrate: %w", err)
	}
	return from, int32(len(m.Migrations)), nil
}

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("store: not found")
