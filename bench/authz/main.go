// Command authz measures what access control costs a request: p50/p99 and
// throughput of GET /api/v1/tickets/{id} through the real API (bearer
// token → principal, CSRF/scope/Casbin checks, scoped query, audit entry)
// against the same read served without access control, on the same
// PostgreSQL in the same run; plus the cost of one Casbin decision.
//
// Three paths: "rbac on" (the API route), "api stack, no access control"
// (the same read on an unguarded route of the same API server, behind its
// middleware) and "rbac off" (a bare Fiber app: the capacity baseline and
// the target's reference); and the bare path once more as if it were a
// fourth ("rbac off, again"), a control: the spread between two identical
// paths is the noise floor of every ratio in the run. Two loads,
// alternating the paths in rotating order so drift on a shared machine
// hits them alike:
//   - closed loop at saturation: -clients clients each send their next
//     request when the last answered; the bare path's throughput is the
//     no-access-control capacity;
//   - open loop at -fraction (0.5) of that capacity: requests leave on a
//     fixed schedule whether or not earlier ones answered, and each latency
//     runs from its scheduled send time (no coordinated omission).
//
// At the end the API is shut down (its audit writer flushed) and every
// protected request must have its audit row.
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/authz -requests 4000 -clients 16 -fraction 0.5 -open-duration 10s -rounds 10
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
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/bench/loadgen"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/stack"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/pgbus"
	"github.com/helpdesk/helpdesk/policies"
)

func main() {
	var o options
	flag.IntVar(&o.requests, "requests", 4000, "closed loop: requests per path")
	flag.IntVar(&o.clients, "clients", 16, "closed loop: concurrent clients")
	flag.Float64Var(&o.fraction, "fraction", 0.5, "open loop: offered rate as a fraction of the no-access-control capacity (0: skip the open loop)")
	flag.DurationVar(&o.openDuration, "open-duration", 10*time.Second, "open loop: time each path is offered load")
	flag.IntVar(&o.rounds, "rounds", 10, "open loop: alternations between the paths (a stall of a busy machine then hits both alike)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write Go CPU profiles of one closed-loop half of each path to FILE.<path name>, to compare")
	flag.Parse()
	if err := run(o); err != nil {
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

type options struct {
	requests, clients int
	fraction          float64
	openDuration      time.Duration
	rounds            int
	cpuProfile        string
}

// cpuUse is the CPU time used so far by this process (API, the
// unprotected server and the load generator alike) and by PostgreSQL.
type cpuUse struct{ self, pg time.Duration }

func (c cpuUse) sub(o cpuUse) cpuUse { return cpuUse{c.self - o.self, c.pg - o.pg} }
func (c cpuUse) add(o cpuUse) cpuUse { return cpuUse{c.self + o.self, c.pg + o.pg} }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(o options) error {
	requests, clients := o.requests, o.clients
	ctx := context.Background()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	db, err := stack.Start(ctx, stack.Options{Name: "bench-authz"})
	if err != nil {
		return err
	}
	defer db.Close()
	pg, st := db.PG, db.Store
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
	bus, err := pgbus.New(pg.URL(), pgbus.Options{})
	if err != nil {
		return err
	}
	defer bus.Close()
	cfg := config.Default()
	full := api.New(api.Deps{Config: cfg, Store: st, Identity: ident, Audit: audit.New(st.Pool()), Enforcer: enforcer, Bus: bus})
	// The same read with no access control at all, served two ways: by a
	// bare Fiber app (the capacity baseline), and by the API's own stack
	// (its middleware: request id, panic recovery, limits, headers) on an
	// unguarded route, so the figures can tell access control from the rest.
	read := func(c *fiber.Ctx) error {
		n, _ := strconv.ParseInt(c.Params("id"), 10, 64)
		t, err := st.Ticket(c.UserContext(), n)
		if err != nil {
			return err
		}
		return c.JSON(t)
	}
	full.App().Get("/bench/tickets/:id", read) // before serving: Fiber builds its routes then
	withRBAC, err := serve(full.App())
	if err != nil {
		return err
	}
	bare := fiber.New(fiber.Config{DisableStartupMessage: true})
	bare.Get("/api/v1/tickets/:id", read)
	without, err := serve(bare)
	if err != nil {
		return err
	}
	// An open loop may have many requests in flight at once; keep their
	// connections for reuse instead of closing all but a few.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: 30 * time.Second}
	get := func(p *path) func(int) error {
		return func(int) error {
			req, _ := http.NewRequest("GET", fmt.Sprintf(p.url, 1+rand.IntN(tickets)), nil)
			if p.auth {
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
	on := &path{name: "rbac on", url: withRBAC + "/api/v1/tickets/%d", auth: true}
	stack := &path{name: "api stack, no access control", url: withRBAC + "/bench/tickets/%d"}
	off := &path{name: "rbac off", url: without + "/api/v1/tickets/%d"}
	// The bare path measured a second time as if it were another path: how
	// far two identical paths' figures differ in this run is the noise
	// floor any ratio above has to be read against.
	again := &path{name: "rbac off, again (control)", url: off.url}
	paths := []*path{on, stack, off, again}
	for _, p := range paths {
		loadgen.Run("warmup", clients, 500, get(p))
	}
	// Alternate the paths (in a rotating order) so drift on a shared
	// machine hits them alike.
	use := func() cpuUse { return cpuUse{selfCPU(), pg.CPUTime()} }
	for round := 0; round < 2; round++ {
		for i := range paths {
			p := paths[(round+i)%len(paths)]
			profile := round == 0 && o.cpuProfile != ""
			if profile {
				if err := startProfile(o.cpuProfile + "." + strings.NewReplacer(" ", "-", ",", "").Replace(p.name)); err != nil {
					return err
				}
			}
			before := use()
			p.closed = append(p.closed, loadgen.Run(p.name, clients, requests/2, get(p)))
			p.cpu = p.cpu.add(use().sub(before))
			if profile {
				pprof.StopCPUProfile()
			}
		}
	}
	for _, p := range paths {
		p.closedAll = loadgen.Merge(p.name, p.closed...)
		if p.closedAll.Errors > 0 {
			return fmt.Errorf("%d calls of %s failed; the figures would mean nothing", p.closedAll.Errors, p.name)
		}
	}
	protected := 500 + len(on.closedAll.Latencies)

	// Open loop at a fraction of the unprotected capacity.
	rate := o.fraction * off.closedAll.Throughput()
	if o.fraction > 0 {
		rounds := max(1, o.rounds)
		perRun := max(1, int(rate*o.openDuration.Seconds()/float64(rounds)))
		for round := 0; round < rounds; round++ {
			for i := range paths {
				p := paths[(round+i)%len(paths)]
				p.open = append(p.open, loadgen.RunOpenLoop("open "+p.name, rate, perRun, get(p)))
			}
		}
		for _, p := range paths {
			p.openAll = loadgen.Merge(p.name, p.open...)
			if p.openAll.Errors > 0 {
				return fmt.Errorf("open loop: %d calls of %s failed; the figures would mean nothing", p.openAll.Errors, p.name)
			}
		}
		protected += len(on.openAll.Latencies)
	}
	// Every protected request must have left its audit row once the API
	// has shut down (and flushed whatever it had queued).
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := full.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut the API down: %w", err)
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
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&count); err != nil {
		return err
	}

	fmt.Printf("machine: %d CPUs, %s, load average %s; PostgreSQL local; GET /api/v1/tickets/{id} over %d tickets\n\n",
		runtime.NumCPU(), runtime.Version(), loadAverage(), tickets)
	fmt.Printf("closed loop at saturation: %d clients, %d requests per path\n\n", clients, requests)
	table(on.closedAll, stack.closedAll, off.closedAll, again.closedAll)
	fmt.Printf("\np99 rbac on / off, closed loop: %.2f (on / api stack: %.2f; control, off again / off: %.2f)\n",
		ratio(on.closedAll, off.closedAll), ratio(on.closedAll, stack.closedAll), ratio(again.closedAll, off.closedAll))
	perRequest := func(d time.Duration, n int) string {
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(n))
	}
	fmt.Printf("\nCPU per request, closed loop (this process: API, bare server and load generator; PostgreSQL):\n\n")
	fmt.Println("| path | this process | PostgreSQL |")
	fmt.Println("|---|---|---|")
	for _, p := range paths {
		n := len(p.closedAll.Latencies)
		fmt.Printf("| %s | %s | %s |\n", p.name, perRequest(p.cpu.self, n), perRequest(p.cpu.pg, n))
	}
	if o.fraction > 0 {
		fmt.Printf("\nopen loop: %.0f requests/s offered to each path (%.0f %% of the unprotected capacity %.0f/s), %d requests per path in %d rounds, latency from the scheduled send time\n\n",
			rate, 100*o.fraction, off.closedAll.Throughput(), len(on.openAll.Latencies), max(1, o.rounds))
		table(on.openAll, stack.openAll, off.openAll, again.openAll)
		fmt.Printf("\np99 rbac on / off, open loop at %.0f %%: %.2f (target ≤ 1.1; on / api stack: %.2f; control, off again / off: %.2f)\n",
			100*o.fraction, ratio(on.openAll, off.openAll), ratio(on.openAll, stack.openAll), ratio(again.openAll, off.openAll))
	}
	fmt.Printf("\nCasbin decision: %s (target ≤ 50µs); protected requests: %d; audit rows written: %d\n", perDecision, protected, count)
	if count < int64(protected) {
		return fmt.Errorf("%d protected requests but only %d audit rows: audit entries were lost", protected, count)
	}
	return nil
}

// path is one way of serving the read, and what the loads measured.
type path struct {
	name, url          string // url has %d for the ticket number
	auth               bool
	closed, open       []loadgen.Result
	closedAll, openAll loadgen.Result
	cpu                cpuUse
}

// startProfile starts a Go CPU profile into path (closed by the runtime's
// StopCPUProfile flush; the file is closed when the process exits).
func startProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return pprof.StartCPUProfile(f)
}

func table(rs ...loadgen.Result) {
	fmt.Println("| path | throughput (/s) | p50 | p99 | errors |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Printf("| %s | %.0f | %s | %s | %d |\n", r.Name, r.Throughput(),
			r.Percentile(0.5).Round(10*time.Microsecond), r.Percentile(0.99).Round(10*time.Microsecond), r.Errors)
	}
}

func ratio(on, off loadgen.Result) float64 {
	return float64(on.Percentile(0.99)) / float64(off.Percentile(0.99))
}

// loadAverage is the 1-minute load average, to tell a busy machine's run
// from a quiet one's.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}
