// Package pgtest runs a test package against one private PostgreSQL, the
// one internal/devstack/localsvc starts for `helpdesk dev`, so test packages share
// one start-up instead of each writing its own TestMain plumbing.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
)

// Main starts PostgreSQL in a temporary directory, calls setup (nil for
// none; the cleanup it returns, if any, runs after the tests), runs the
// package's tests and exits with their code. name appears in the
// directory and in the error printed when start-up fails.
func Main(m *testing.M, name string, setup func(ctx context.Context, pg *localsvc.Postgres) (cleanup func(), err error)) {
	code, err := run(m, name, setup)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s tests: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M, name string, setup func(context.Context, *localsvc.Postgres) (func(), error)) (int, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "helpdesk-"+name+"-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	port, err := localsvc.FreePort()
	if err != nil {
		return 0, err
	}
	pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Port: port})
	if err != nil {
		return 0, fmt.Errorf("start postgres: %w", err)
	}
	defer pg.Stop()
	if setup != nil {
		cleanup, err := setup(ctx, pg)
		if cleanup != nil {
			defer cleanup()
		}
		if err != nil {
			return 0, err
		}
	}
	return m.Run(), nil
}
