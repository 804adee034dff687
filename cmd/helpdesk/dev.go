package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/temporalserver"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/worker"
)

// runDev runs the whole product in one process: an embedded Temporal server
// with its Web UI, private PostgreSQL and Elasticsearch child processes
// (unless database_url / elasticsearch_url point at existing ones),
// migrations, the worker and the API. Ctrl-C stops everything it started.
func runDev(ctx context.Context, cfg config.Config, _ []string) error {
	began := time.Now()
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("dev: data dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("dev: create data dir %s: %w", dataDir, err)
	}
	// The API's port first: a port in use fails at once, not after the
	// services took their time to start (and nobody takes it meanwhile).
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer ln.Close()
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()

	if cfg.DatabaseURL == "" {
		slog.Info("starting PostgreSQL", "port", cfg.DevPostgresPort, "data", filepath.Join(dataDir, "postgres"))
		pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{
			DataDir: filepath.Join(dataDir, "postgres"), Port: cfg.DevPostgresPort,
		})
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		stops = append(stops, func() {
			if err := pg.Stop(); err != nil {
				slog.Warn("stop PostgreSQL", "err", err)
			}
		})
		cfg.DatabaseURL = pg.URL()
	}
	if cfg.ElasticsearchURL == "" {
		slog.Info("starting Elasticsearch", "port", cfg.DevElasticsearchPort, "data", filepath.Join(dataDir, "elasticsearch"))
		es, err := localsvc.StartElasticsearch(ctx, localsvc.ElasticsearchOptions{
			DataDir: filepath.Join(dataDir, "elasticsearch"), Port: cfg.DevElasticsearchPort,
		})
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		stops = append(stops, func() {
			if err := es.Stop(); err != nil {
				slog.Warn("stop Elasticsearch", "err", err)
			}
		})
		cfg.ElasticsearchURL = es.URL()
	}

	host, portStr, err := net.SplitHostPort(cfg.TemporalAddress)
	if err != nil {
		return &config.OptionError{Option: "temporal_address", Reason: "want host:port: " + err.Error()}
	}
	port, _ := strconv.Atoi(portStr)
	slog.Info("starting Temporal", "address", cfg.TemporalAddress)
	ts, err := temporalserver.Start(temporalserver.Options{
		IP: host, FrontendPort: port, UIPort: cfg.DevTemporalUIPort,
		DatabaseFile: filepath.Join(dataDir, "temporal", "temporal.db"),
		LogLevel:     "error",
	})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	stops = append(stops, ts.Stop)

	from, to, err := store.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	slog.Info("database migrated", "from", from, "to", to)

	b, err := connect(ctx, cfg)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	stops = append(stops, b.Close)

	if err := seedDemo(ctx, b.ident); err != nil {
		return fmt.Errorf("dev: seed demo users: %w", err)
	}

	mailInfo := "off (dev_mail false)"
	if cfg.DevMail {
		info, stop, err := startDevMail(ctx, &cfg, dataDir)
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		stops = append(stops, stop)
		mailInfo = info
	}
	d, err := workerDeps(cfg, b)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	w := worker.New(d)
	if err := w.Start(); err != nil {
		return fmt.Errorf("dev: worker: %w", err)
	}
	stops = append(stops, w.Stop)
	if err := worker.EnsureSchedules(ctx, d); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	loops, stopLoops := context.WithCancel(ctx)
	stops = append(stops, stopLoops) // before the database closes
	go worker.PurgeLoop(loops, d, time.Hour)
	go worker.OutboxMailLoop(loops, d, time.Second, 0)

	if len(cfg.Mailboxes) > 0 {
		ictx, cancel := context.WithCancel(ctx)
		wait := startIntake(ictx, cfg, b)
		stops = append(stops, func() { cancel(); wait() })
	}

	srv, err := newAPI(ctx, cfg, b)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- serveAPI(ctx, srv, ln) }()

	fmt.Printf(`
helpdesk is running (ready in %s)
  Web UI and API     http://%s/  (API under /api/v1)
  Temporal Web UI    %s/namespaces/%s/workflows
  Temporal frontend  %s  (namespace %s)
  PostgreSQL         %s
  Elasticsearch      %s  (index %s)
  Mail               %s
  Data               %s
  Sign in            admin@, lead@, agent@, requester@example.com, password %q
Press Ctrl-C to stop.
`, time.Since(began).Round(100*time.Millisecond), cfg.HTTPAddr, ts.UIURL, cfg.TemporalNamespace,
		cfg.TemporalAddress, cfg.TemporalNamespace, cfg.DatabaseURL, cfg.ElasticsearchURL, cfg.ElasticsearchIndex, mailInfo, dataDir, demoPassword)

	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	case <-ctx.Done():
		<-errc
	}
	slog.Info("shutting down")
	return nil
}

// demoPassword is the password of the demo users `helpdesk dev` seeds.
const demoPassword = "helpdesk"

// seedDemo creates the demo users and team once; existing ones are kept
// as they are (a changed password stays changed).
func seedDemo(ctx context.Context, ident *identity.Service) error {
	ids := map[string]int64{}
	for _, u := range []struct {
		email, name string
		role        identity.Role
	}{
		{"admin@example.com", "Ada Admin", identity.RoleAdmin},
		{"lead@example.com", "Lee Lead", identity.RoleLead},
		{"agent@example.com", "Alex Agent", identity.RoleAgent},
		{"requester@example.com", "Robin Requester", identity.RoleRequester},
	} {
		created, err := ident.CreateUser(ctx, identity.NewUser{Email: u.email, Name: u.name, Role: u.role, Password: demoPassword})
		if errors.Is(err, identity.ErrConflict) {
			created, err = ident.UserByEmail(ctx, u.email)
		}
		if err != nil {
			return err
		}
		ids[string(u.role)] = created.ID
	}
	teams, err := ident.ListTeams(ctx)
	if err != nil {
		return err
	}
	for _, t := range teams {
		if t.Name == "Demo team" {
			return nil
		}
	}
	lead := ids["lead"]
	_, err = ident.CreateTeam(ctx, "Demo team", &lead, []int64{ids["agent"], ids["lead"]})
	return err
}
