// Command authz measures what access control costs a request: p50/p99 and
// throughput of GET /api/v1/tickets/{id} through the real API (bearer
// token → principal, CSRF/scope/Casbin checks, scoped query, audit entry)
// against the same read served without access control, on the same
// PostgreSQL in the same run; plus the cost of one Casbin decision.
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/authz -requests 4000 -clients 16
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/bench/loadgen"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/localsvc"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/policies"
)

func main() {
	requests := flag.Int("requests", 4000, "requests per path")
	clients := flag.Int("clients", 16, "concurrent clients")
	flag.Parse()
	if err := run(*requests, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func serve(app interface{ Listener(net.Listener) error }) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = app.Listener(ln) }()
	return "http://" + ln.Addr().String(), nil
}

func run(requests, clients int) error {
	ctx := context.Background()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	dir, err := os.MkdirTemp("", "helpdesk-bench-authz-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, _ := localsvc.FreePort()
	pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{DataDir: filepath.Join(dir, "pg"), Port: port})
	if err != nil {
		return err
	}
	defer pg.Stop()
	if _, _, err := store.Migrate(ctx, pg.URL()); err != nil {
		return err
	}
	st, err := store.Open(ctx, pg.URL())
	if err != nil {
		return err
	}
	defer st.Close()
	ident := identity.New(st.Pool())
	agent, err := ident.CreateUser(ctx, identity.NewUser{Email: "agent@example.com", Role: identity.RoleAgent, Password: "bench password"})
	if err != nil {
		return err
	}
	token, _, err := ident.CreateToken(ctx, agent.ID, "bench", []string{identity.ScopeTicketsRead}, nil)
	if err != nil {
		return err
	}
	const tickets = 1000
	if _, err := st.Pool().Exec(ctx, `INSERT INTO tickets (number, subject, description, status, priority, created_at, updated_at, last_seq, requester_id)
		SELECT n, 'Benchmark ticket ' || n, 'body', 'open', 'medium', now(), now(), 1, $1 FROM generate_series(1, $2) n`, agent.ID, tickets); err != nil {
		return err
	}
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		return err
	}
	cfg := config.Default()
	full := api.New(api.Deps{Config: cfg, Store: st, Identity: ident, Audit: audit.New(st.Pool()), Enforcer: enforcer})
	withRBAC, err := serve(full.App())
	if err != nil {
		return err
	}
	// The same read with no access control at all.
	bare := fiber.New(fiber.Config{DisableStartupMessage: true})
	bare.Get("/api/v1/tickets/:id", func(c *fiber.Ctx) error {
		n, _ := strconv.ParseInt(c.Params("id"), 10, 64)
		t, err := st.Ticket(c.UserContext(), n)
		if err != nil {
			return err
		}
		return c.JSON(t)
	})
	without, err := serve(bare)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	get := func(base string, auth bool) func(int) error {
		return func(int) error {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/tickets/%d", base, 1+rand.IntN(tickets)), nil)
			if auth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := hc.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			return nil
		}
	}
	loadgen.Run("warmup", clients, 500, get(withRBAC, true))
	loadgen.Run("warmup", clients, 500, get(without, false))
	// Alternate halves so drift on a shared machine hits both paths alike.
	var ons, offs []loadgen.Result
	for round := 0; round < 2; round++ {
		ons = append(ons, loadgen.Run("rbac on", clients, requests/2, get(withRBAC, true)))
		offs = append(offs, loadgen.Run("rbac off", clients, requests/2, get(without, false)))
	}
	on, off := loadgen.Merge("rbac on", ons...), loadgen.Merge("rbac off", offs...)
	if on.Errors+off.Errors > 0 {
		return fmt.Errorf("%d protected and %d unprotected calls failed; the figures would mean nothing", on.Errors, off.Errors)
	}

	// One Casbin decision.
	const decisions = 200000
	t0 := time.Now()
	for i := 0; i < decisions; i++ {
		if _, err := enforcer.Enforce("agent", "ticket", "read"); err != nil {
			return err
		}
	}
	perDecision := time.Since(t0) / decisions
	var count int64
	_ = st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&count)

	fmt.Printf("machine: %d CPUs, %s; PostgreSQL local; %d clients, %d requests per path, GET /api/v1/tickets/{id} over %d tickets\n\n",
		runtime.NumCPU(), runtime.Version(), clients, requests, tickets)
	fmt.Println("| path | throughput (/s) | p50 | p99 | errors |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range []loadgen.Result{on, off} {
		fmt.Printf("| %s | %.0f | %s | %s | %d |\n", r.Name, r.Throughput(),
			r.Percentile(0.5).Round(10*time.Microsecond), r.Percentile(0.99).Round(10*time.Microsecond), r.Errors)
	}
	fmt.Printf("\np99 rbac on / off: %.2f (target ≤ 1.1); Casbin decision: %s (target ≤ 50µs); audit rows written: %d\n",
		float64(on.Percentile(0.99))/float64(off.Percentile(0.99)), perDecision, count)
	return nil
}
