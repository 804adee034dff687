// Package systemtest runs helpdesk end to end against real services: a
// private PostgreSQL and Elasticsearch (started through internal/devstack/localsvc,
// the same code `helpdesk dev` uses, on their own ports and data
// directories) and an embedded Temporal server. It is one of only two test
// packages that link the Temporal server, so the server starts once here.
package systemtest

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/stack"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/policies"
	"github.com/helpdesk/helpdesk/web"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

// env is the running system every test talks to.
var env struct {
	cfg      config.Config
	store    *store.Store
	index    *search.Index
	temporal client.Client
	ident    *identity.Service
	audit    *audit.Log
	baseURL  string
	http     *http.Client
	srv      *api.Server
	// adminToken is the bootstrap admin API token every plain call sends.
	adminToken string
	exportDir  string
	// people signed up by TestMain, by role.
	users map[string]identity.User
	// pgAdminURL connects as the superuser (to the "postgres" database):
	// for tests that do what the app role may not, e.g. edit audit rows.
	pgAdminURL string
}

// testPassword is every seeded user's password.
const testPassword = "correct horse battery staple"

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "systemtest: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	slog.SetDefault(logger)

	base := config.Default()
	base.ElasticsearchIndex = "tickets-systemtest"
	base.UpdateTimeout = config.Duration(10 * time.Second)
	services, err := stack.Start(ctx, stack.Options{Name: "systemtest", Config: &base, Elasticsearch: true,
		Temporal: true, SetupNamespace: workflows.EnsureNamespace, Logger: logger})
	if err != nil {
		return 0, err
	}
	defer services.Close()
	dir, cfg := services.Dir, services.Config
	env.cfg = cfg
	env.pgAdminURL = services.PG.AdminURL()
	env.store, env.index, env.temporal = services.Store, services.Index, services.Client

	env.ident = identity.New(env.store.Pool())
	env.audit = audit.New(env.store.Pool())
	env.exportDir = filepath.Join(dir, "audit-exports")
	w := startWorker(cfg.TaskQueue)
	defer w.Stop()
	if err := seedPeople(ctx); err != nil {
		return 0, err
	}

	ui, err := web.Assets()
	if err != nil {
		return 0, err
	}
	if !web.HasIndex(ui) {
		return 0, fmt.Errorf("the web UI is not built; run `make web` (make test does it)")
	}
	srv := newAPI(cfg, ui)
	env.srv = srv
	addr, err := listenAndServe(srv)
	if err != nil {
		return 0, err
	}
	defer srv.Shutdown(context.Background())
	env.baseURL = "http://" + addr
	env.http = &http.Client{Timeout: 30 * time.Second}

	return m.Run(), nil
}

// newAPI builds an API server on the shared test services.
func newAPI(cfg config.Config, ui fs.FS) *api.Server {
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		panic(err)
	}
	return api.New(api.Deps{Config: cfg, Store: env.store, Index: env.index, Temporal: env.temporal,
		Identity: env.ident, Audit: env.audit, Enforcer: enforcer, UI: ui, Logger: slog.Default()})
}

// seedPeople creates one user per role (plus a second requester and a
// second agent on another team) and the admin token plain calls use.
func seedPeople(ctx context.Context) error {
	env.users = map[string]identity.User{}
	for _, u := range []struct {
		key, email string
		role       identity.Role
	}{
		{"admin", "admin@example.com", identity.RoleAdmin},
		{"lead", "lead@example.com", identity.RoleLead},
		{"agent", "agent@example.com", identity.RoleAgent},
		{"agent2", "agent2@example.com", identity.RoleAgent},
		{"requester", "requester@example.com", identity.RoleRequester},
		{"requester2", "requester2@example.com", identity.RoleRequester},
	} {
		created, err := env.ident.CreateUser(ctx, identity.NewUser{Email: u.email, Name: u.key, Role: u.role, Password: testPassword})
		if err != nil {
			return err
		}
		env.users[u.key] = created
	}
	lead := env.users["lead"].ID
	if _, err := env.ident.CreateTeam(ctx, "Support", &lead, []int64{env.users["agent"].ID}); err != nil {
		return err
	}
	if _, err := env.ident.CreateTeam(ctx, "Finance", nil, []int64{env.users["agent2"].ID}); err != nil {
		return err
	}
	env.adminToken = "systemtest-bootstrap-token-0123456789"
	_, err := env.ident.CreateTokenWithSecret(ctx, env.users["admin"].ID, "bootstrap", []string{identity.ScopeAdmin}, env.adminToken)
	return err
}

// startWorker runs a ticket worker on taskQueue against the test services.
func startWorker(taskQueue string) sdkworker.Worker {
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		panic(err)
	}
	w := worker.New(worker.Deps{Client: env.temporal, TaskQueue: taskQueue, Store: env.store, Index: env.index,
		IdempotencyTTL: env.cfg.IdempotencyTTL.D(), Logger: slog.Default(), DefaultAgentCapacity: env.cfg.DefaultAgentCapacity,
		Audit: env.audit, AuditExportDir: env.exportDir, AuditLogInterval: time.Minute,
		Identity: env.ident, Policy: enforcer, AgentsSeeAllTickets: env.cfg.AgentsSeeAllTickets,
		BulkMaxTickets: env.cfg.BulkMaxTickets, UpdateTimeout: env.cfg.UpdateTimeout.D()})
	if err := w.Start(); err != nil {
		panic(err)
	}
	return w
}

// listenAndServe serves srv on a free loopback port and returns its address.
func listenAndServe(srv *api.Server) (string, error) {
	port, err := localsvc.FreePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	return addr, listenAt(srv, addr)
}

// listenAt serves srv on addr and returns once it accepts connections.
func listenAt(srv *api.Server, addr string) error {
	go func() { _ = srv.Listen(addr) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("api did not listen on %s", addr)
}
