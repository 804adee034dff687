// Package benchpg starts the private PostgreSQL a benchmark runs on: a
// temporary data directory, a free port, the schema migrated and a store
// open. Close stops it and removes the directory.
package benchpg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/store"
)

// DB is a running private PostgreSQL with the helpdesk schema.
type DB struct {
	PG    *localsvc.Postgres
	Store *store.Store
	dir   string
}

// Start starts PostgreSQL in a new temporary directory named after the
// benchmark, migrates it and opens a store on it.
func Start(ctx context.Context, name string) (*DB, error) {
	dir, err := os.MkdirTemp("", "helpdesk-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	d := &DB{dir: dir}
	port, err := localsvc.FreePort()
	if err != nil {
		d.Close()
		return nil, err
	}
	if d.PG, err = localsvc.StartPostgres(ctx, localsvc.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Port: port}); err != nil {
		d.Close()
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	if _, _, err := store.Migrate(ctx, d.PG.URL()); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if d.Store, err = store.Open(ctx, d.PG.URL()); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the store, stops PostgreSQL and removes its directory.
func (d *DB) Close() {
	if d.Store != nil {
		d.Store.Close()
	}
	if d.PG != nil {
		d.PG.Stop()
	}
	os.RemoveAll(d.dir)
}
