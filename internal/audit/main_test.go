package audit

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc/pgtest"
	"github.com/helpdesk/helpdesk/internal/store"
)

// The tests share one private PostgreSQL. The audit log is one chain per
// database, so every test that counts rows or tampers gets a fresh database.
var pg *localsvc.Postgres

func TestMain(m *testing.M) {
	pgtest.Main(m, "audit", func(ctx context.Context, p *localsvc.Postgres) (func(), error) {
		pg = p
		_, _, err := store.Migrate(ctx, pg.URL())
		return nil, err
	})
}

var dbSeq atomic.Int64

// testDB is a freshly migrated database of its own.
type testDB struct {
	name string
	pool *pgxpool.Pool
}

// newDB creates and migrates a database for one test, as the app role.
func newDB(t testing.TB) testDB {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("audit_test_%d", dbSeq.Add(1))
	conn, err := pgxpool.New(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `CREATE DATABASE `+name)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Migrate(ctx, pg.URLFor(name)); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(pg.URLFor(name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return testDB{name: name, pool: pool}
}

// admin runs SQL as the superuser in db: the only way to rewrite history.
func (db testDB) admin(t testing.TB, sql string, args ...any) {
	t.Helper()
	u, err := url.Parse(pg.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db.name
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("as superuser: %s: %v", sql, err)
	}
}

// clock is a settable time source for Log.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newLogAt is a Log on a fresh database whose clock the test sets.
func newLogAt(t testing.TB, start time.Time) (*Log, testDB, *clock) {
	db := newDB(t)
	c := &clock{t: start}
	l := New(db.pool)
	l.now = c.now
	return l, db, c
}
