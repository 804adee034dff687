package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/mailout"
	"github.com/helpdesk/helpdesk/internal/pgbus"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/sso"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/policies"
	"github.com/helpdesk/helpdesk/web"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

// backends are the connections every long-running command needs.
type backends struct {
	store    *store.Store
	index    *search.Index
	temporal client.Client
	ident    *identity.Service
	audit    *audit.Log
	// bus is an API process's one LISTEN/NOTIFY connection (pgbus), opened
	// by newAPI; nil in workers and the intake.
	bus *pgbus.Bus
}

func (b *backends) Close() {
	if b.bus != nil {
		b.bus.Close()
	}
	if b.temporal != nil {
		b.temporal.Close()
	}
	if b.store != nil {
		b.store.Close()
	}
}

// dbTimeouts gives pooled sessions db_statement_timeout and db_lock_timeout.
func dbTimeouts(cfg config.Config) store.Option {
	return store.WithTimeouts(store.Timeouts{Statement: cfg.DBStatementTimeout.D(), Lock: cfg.DBLockTimeout.D()})
}

// connect opens PostgreSQL, Elasticsearch and Temporal, and prepares the
// search index and the Temporal namespace (both idempotent).
func connect(ctx context.Context, cfg config.Config) (*backends, error) {
	if cfg.DatabaseURL == "" {
		return nil, &config.OptionError{Option: "database_url", Source: "environment " + config.EnvName("database_url"), Reason: "must be set (postgres://…)"}
	}
	if cfg.ElasticsearchURL == "" {
		return nil, &config.OptionError{Option: "elasticsearch_url", Source: "environment " + config.EnvName("elasticsearch_url"), Reason: "must be set (http://…)"}
	}
	b := &backends{}
	var err error
	if b.store, err = store.Open(ctx, cfg.DatabaseURL, dbTimeouts(cfg)); err != nil {
		return nil, err
	}
	if b.index, err = search.New(cfg.ElasticsearchURL, cfg.ElasticsearchIndex); err != nil {
		b.Close()
		return nil, err
	}
	b.index.SetStore(b.store)
	if err := retry(ctx, 60*time.Second, func() error { return b.index.EnsureIndex(ctx) }); err != nil {
		b.Close()
		return nil, err
	}
	if b.temporal, err = client.DialContext(ctx, client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    sdklog.NewStructuredLogger(slog.Default().With("component", "temporal-sdk")),
	}); err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	if err := workflows.EnsureNamespace(ctx, b.temporal, cfg.TemporalNamespace, cfg.TemporalRetention.D()); err != nil {
		b.Close()
		return nil, err
	}
	b.ident = identity.New(b.store.Pool())
	b.ident.Throttle = identity.Throttle{Window: cfg.LoginThrottleWindow.D(),
		PerEmail: cfg.LoginMaxFailuresPerAccount, PerIP: cfg.LoginMaxFailuresPerAddress}
	b.audit = audit.New(b.store.Pool())
	return b, nil
}

// bootstrapToken applies the bootstrap_token option. Set, it becomes an
// admin API token of the first admin (creating "admin@localhost" when there
// is none), so scripts can call the API on a fresh installation, and any
// earlier bootstrap token is revoked; unset, every bootstrap token is
// revoked. Only API processes apply it (the token is an API credential):
// a worker or intake started without the option leaves it alone.
func bootstrapToken(ctx context.Context, ident *identity.Service, token string) error {
	if token == "" {
		_, n, err := ident.SetBootstrapToken(ctx, 0, "")
		if err != nil {
			return err
		}
		if n > 0 {
			slog.Info("bootstrap_token is not set: revoked the earlier bootstrap token", "revoked", n)
		}
		return nil
	}
	users, err := ident.ListUsers(ctx, 1000, 0)
	if err != nil {
		return err
	}
	var admin *identity.User
	for i := range users {
		if users[i].Role == identity.RoleAdmin && !users[i].Disabled {
			admin = &users[i]
			break
		}
	}
	if admin == nil {
		u, err := ident.CreateUser(ctx, identity.NewUser{Email: "admin@localhost", Name: "Bootstrap admin", Role: identity.RoleAdmin})
		if err != nil {
			return fmt.Errorf("bootstrap token: create admin: %w", err)
		}
		admin = &u
	}
	_, n, err := ident.SetBootstrapToken(ctx, admin.ID, token)
	if err != nil {
		return &config.OptionError{Option: "bootstrap_token", Reason: err.Error()}
	}
	if n > 0 {
		slog.Info("bootstrap_token changed: revoked the earlier bootstrap token", "revoked", n)
	}
	return nil
}

// retry calls f until it succeeds or the deadline passes.
func retry(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// newAPI builds the API of `helpdesk api` and `helpdesk dev`, applying the
// bootstrap token first.
func newAPI(ctx context.Context, cfg config.Config, b *backends) (*api.Server, error) {
	if err := bootstrapToken(ctx, b.ident, cfg.BootstrapToken); err != nil {
		return nil, err
	}
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		return nil, err
	}
	// Only an API process listens (its principal cache); workers and the
	// intake would hold an idle connection for nothing. backends.Close
	// closes it.
	if b.bus, err = pgbus.New(cfg.DatabaseURL, pgbus.Options{}); err != nil {
		return nil, err
	}
	deps := api.Deps{Config: cfg, Store: b.store, Index: b.index, Temporal: b.temporal,
		Identity: b.ident, Audit: b.audit, Enforcer: enforcer, Logger: slog.Default(), Bus: b.bus}
	if cfg.OIDCIssuer != "" {
		deps.SSO, err = sso.New(ctx, sso.Config{
			Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
			RedirectURL: cfg.OIDCRedirectURL, GroupsClaim: cfg.OIDCGroupsClaim, RoleMapping: cfg.OIDCRoleMapping,
		})
		if err != nil {
			return nil, &config.OptionError{Option: "oidc_issuer", Reason: err.Error()}
		}
		deps.SSOKey = cookieKey(cfg)
	}
	if ui, err := web.Assets(); err == nil && web.HasIndex(ui) {
		deps.UI = ui
	}
	return api.New(deps), nil
}

// cookieKey signs the single sign-on cookie. cookie_secret must be the
// same on every API process; without it each process picks its own, which
// only works with one API process.
func cookieKey(cfg config.Config) []byte {
	if cfg.CookieSecret != "" {
		return []byte(cfg.CookieSecret)
	}
	slog.Warn("cookie_secret is not set: single sign-on works only with one API process")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key
}

func workerDeps(cfg config.Config, b *backends) (worker.Deps, error) {
	dir := cfg.AuditExportDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "audit-exports")
	}
	// Bulk actions obey the access policy the API enforces.
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		return worker.Deps{}, err
	}
	return worker.Deps{Client: b.temporal, TaskQueue: cfg.TaskQueue, Store: b.store, Index: b.index,
		Audit: b.audit, AuditExportDir: dir, AuditLogInterval: cfg.AuditLogInterval.D(),
		IdempotencyTTL: cfg.IdempotencyTTL.D(), Logger: slog.Default(), DefaultAgentCapacity: cfg.DefaultAgentCapacity,
		Mailer: newMailer(cfg, b), Identity: b.ident, Policy: enforcer, AgentsSeeAllTickets: cfg.AgentsSeeAllTickets,
		BulkMaxTickets: cfg.BulkMaxTickets, UpdateTimeout: cfg.UpdateTimeout.D()}, nil
}

// newMailer delivers notifications through smtp_host from mail_from (the
// configuration validated both).
func newMailer(cfg config.Config, b *backends) *activities.Mailer {
	from, _ := mail.ParseAddress(cfg.MailFrom)
	return &activities.Mailer{Store: b.store, Users: b.ident, From: *from, Enabled: cfg.EnableEmailNotifications, Secret: cfg.MailSecret,
		SMTP: mailout.SMTP{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Security: cfg.SMTPSecurity, User: cfg.SMTPUser, Password: cfg.SMTPPassword}}
}

// listen opens the API's port, so a port in use fails before anything
// claims to be ready.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s (option http_addr): %w", addr, err)
	}
	return ln, nil
}

// serveAPI runs the API until ctx ends, then drains in-flight requests.
func serveAPI(ctx context.Context, srv *api.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func runAPI(ctx context.Context, cfg config.Config, _ []string) error {
	b, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	srv, err := newAPI(ctx, cfg, b)
	if err != nil {
		return err
	}
	slog.Info("api listening", "url", "http://"+cfg.HTTPAddr)
	return serveAPI(ctx, srv, ln)
}

func runWorker(ctx context.Context, cfg config.Config, _ []string) error {
	b, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	d, err := workerDeps(cfg, b)
	if err != nil {
		return err
	}
	w := worker.New(d)
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: start: %w", err)
	}
	if err := worker.EnsureSchedules(ctx, d); err != nil {
		return err
	}
	defer w.Stop()
	slog.Info("worker polling", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace)
	go worker.OutboxMailLoop(ctx, d, time.Second, 0)
	worker.PurgeLoop(ctx, d, time.Hour)
	return nil
}

func runMigrate(ctx context.Context, cfg config.Config, _ []string) error {
	if cfg.DatabaseURL == "" {
		return &config.OptionError{Option: "database_url", Reason: "must be set (postgres://…)"}
	}
	from, to, err := store.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	fmt.Printf("database schema at version %d (was %d)\n", to, from)
	return nil
}
