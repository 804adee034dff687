// Package stack starts helpdesk's backing services on private instances
// for the system tests and the benchmarks, the one place that does: a
// private PostgreSQL (migrated, a store open on it), optionally a private
// Elasticsearch (the ticket index ensured) and the embedded Temporal server
// (a client dialled, its namespace prepared), each on a free port under one
// temporary directory. Close stops everything and removes the directory.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/temporalserver"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
)

// Options says what to start.
type Options struct {
	// Name names the temporary directory (helpdesk-<Name>-…).
	Name string
	// Config is the configuration to fill in with the services' addresses
	// (zero: config.Default()).
	Config *config.Config
	// Elasticsearch starts a private Elasticsearch and ensures the index.
	Elasticsearch bool
	// ESHeapMB sizes Elasticsearch's heap (0: localsvc's default); the
	// search benchmark raises it for a large corpus.
	ESHeapMB int
	// Temporal starts the embedded Temporal server (in memory) and dials a
	// client; SetupNamespace, when set, prepares the namespace (callers
	// pass workflows.EnsureNamespace: this package does not import the
	// workflow code).
	Temporal       bool
	SetupNamespace func(ctx context.Context, c client.Client, namespace string, retention time.Duration) error
	// Logger is the Temporal client's (nil: slog.Default()).
	Logger *slog.Logger
}

// Stack is what Start started.
type Stack struct {
	Dir      string
	Config   config.Config
	PG       *localsvc.Postgres
	Store    *store.Store
	ES       *localsvc.Elasticsearch // nil unless Options.Elasticsearch
	Index    *search.Index           // nil unless Options.Elasticsearch
	Temporal *temporalserver.Server  // nil unless Options.Temporal
	Client   client.Client           // nil unless Options.Temporal
	closers  []func()
}

// Start starts what o asks for. On an error it stops what it had started.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	s = &Stack{}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if s.Dir, err = os.MkdirTemp("", "helpdesk-"+o.Name+"-"); err != nil {
		return s, err
	}
	dir := s.Dir
	s.closers = append(s.closers, func() { os.RemoveAll(dir) })
	s.Config = config.Default()
	if o.Config != nil {
		s.Config = *o.Config
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}

	port, err := localsvc.FreePort()
	if err != nil {
		return s, err
	}
	if s.PG, err = localsvc.StartPostgres(ctx, localsvc.PostgresOptions{DataDir: filepath.Join(dir, "postgres"), Port: port}); err != nil {
		return s, fmt.Errorf("start PostgreSQL: %w", err)
	}
	s.closers = append(s.closers, func() { _ = s.PG.Stop() })
	s.Config.DatabaseURL = s.PG.URL()
	if _, _, err := store.Migrate(ctx, s.Config.DatabaseURL); err != nil {
		return s, fmt.Errorf("migrate: %w", err)
	}
	if s.Store, err = store.Open(ctx, s.Config.DatabaseURL); err != nil {
		return s, err
	}
	s.closers = append(s.closers, s.Store.Close)

	if o.Elasticsearch {
		if port, err = localsvc.FreePort(); err != nil {
			return s, err
		}
		if s.ES, err = localsvc.StartElasticsearch(ctx, localsvc.ElasticsearchOptions{DataDir: filepath.Join(dir, "elasticsearch"), Port: port, HeapMB: o.ESHeapMB}); err != nil {
			return s, fmt.Errorf("start Elasticsearch: %w", err)
		}
		s.closers = append(s.closers, func() { _ = s.ES.Stop() })
		s.Config.ElasticsearchURL = s.ES.URL()
		if s.Index, err = search.New(s.Config.ElasticsearchURL, s.Config.ElasticsearchIndex); err != nil {
			return s, err
		}
		s.Index.SetStore(s.Store)
		if err := s.Index.EnsureIndex(ctx); err != nil {
			return s, err
		}
	}

	if o.Temporal {
		if s.Temporal, err = temporalserver.Start(temporalserver.Options{}); err != nil {
			return s, fmt.Errorf("start Temporal: %w", err)
		}
		s.closers = append(s.closers, s.Temporal.Stop)
		s.Config.TemporalAddress = s.Temporal.Address
		if s.Client, err = client.Dial(client.Options{HostPort: s.Temporal.Address, Namespace: s.Config.TemporalNamespace,
			Logger: sdklog.NewStructuredLogger(logger)}); err != nil {
			return s, err
		}
		s.closers = append(s.closers, s.Client.Close)
		if o.SetupNamespace != nil {
			if err := o.SetupNamespace(ctx, s.Client, s.Config.TemporalNamespace, s.Config.TemporalRetention.D()); err != nil {
				return s, err
			}
		}
	} else if o.SetupNamespace != nil {
		return s, errors.New("stack: SetupNamespace without Temporal")
	}
	return s, nil
}

// Close stops everything Start started, in reverse order, and removes the
// directory.
func (s *Stack) Close() {
	if s == nil {
		return
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}
