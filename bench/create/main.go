// Command create measures ticket creation through the API (HTTP → Temporal
// Update-with-Start → PostgreSQL, Elasticsearch after) against a bare-Temporal
// baseline on the same embedded server in the same run: Update-with-Start
// whose update runs one no-op activity. It prints throughput and latency
// percentiles at each concurrency and the ratios that docs/benchmarks.md and
// ../shared/TARGETS.md talk about.
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/create -requests 400
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/bench/loadgen"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/devstack/stack"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/policies"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

const baselineQueue = "bench-baseline"

// baselineWorkflow is the physical ceiling of the design: a workflow whose
// Update runs one no-op activity, then it stays open like a ticket does.
func baselineWorkflow(ctx workflow.Context) error {
	err := workflow.SetUpdateHandler(ctx, "run", func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
		return workflow.ExecuteActivity(ctx, noop).Get(ctx, nil)
	})
	if err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

func noop(context.Context) error { return nil }

func main() {
	requests := flag.Int("requests", 400, "requests per run at each concurrency")
	levels := flag.String("concurrency", "4,16", "comma-separated client counts")
	routing := flag.Int("routing", 0, "with N > 0: a priority rule and a least-loaded assignment rule to a team of N agents match every ticket; prints the spread per agent")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of each API run to FILE.<clients> (API, worker and Temporal share this process)")
	flag.Parse()
	if err := run(*requests, *levels, *routing, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// cpuUse is the CPU time used so far by this process (API, worker, embedded
// Temporal) and by the PostgreSQL and Elasticsearch servers.
type cpuUse struct{ self, pg, es time.Duration }

func (c cpuUse) sub(o cpuUse) cpuUse { return cpuUse{c.self - o.self, c.pg - o.pg, c.es - o.es} }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(requests int, levels string, routing int, cpuProfile string) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	slog.SetDefault(logger)
	services, err := stack.Start(ctx, stack.Options{Name: "bench-create", Elasticsearch: true,
		Temporal: true, SetupNamespace: workflows.EnsureNamespace, Logger: logger})
	if err != nil {
		return err
	}
	defer services.Close()
	cfg, pg, es, st, ix, tc := services.Config, services.PG, services.ES, services.Store, services.Index, services.Client
	tw := worker.New(worker.Deps{Client: tc, TaskQueue: cfg.TaskQueue, Store: st, Index: ix, Logger: logger})
	if err := tw.Start(); err != nil {
		return err
	}
	defer tw.Stop()
	bw := sdkworker.New(tc, baselineQueue, sdkworker.Options{})
	bw.RegisterWorkflow(baselineWorkflow)
	bw.RegisterActivity(noop)
	if err := bw.Start(); err != nil {
		return err
	}
	defer bw.Stop()

	ident := identity.New(st.Pool())
	admin, err := ident.CreateUser(ctx, identity.NewUser{Email: "bench@example.com", Role: identity.RoleAdmin})
	if err != nil {
		return err
	}
	token, _, err := ident.CreateToken(ctx, admin.ID, "bench", []string{identity.ScopeTicketsWrite, identity.ScopeTicketsRead}, nil)
	if err != nil {
		return err
	}
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		return err
	}
	var agents []int64
	if routing > 0 {
		if agents, err = routingSetup(ctx, st, ident, routing); err != nil {
			return err
		}
	}
	srv := api.New(api.Deps{Config: cfg, Store: st, Index: ix, Temporal: tc, Logger: logger,
		Identity: ident, Audit: audit.New(st.Pool()), Enforcer: enforcer})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

	var seq atomic.Int64
	baseline := func(int) error {
		id := fmt.Sprintf("bench-%d", seq.Add(1))
		op := tc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: id, TaskQueue: baselineQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, baselineWorkflow)
		h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: "run", WaitForStage: client.WorkflowUpdateStageCompleted},
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, nil)
	}
	priority := `,"priority":"high"`
	if routing > 0 {
		priority = "" // the priority rule sets it
	}
	viaAPI := func(int) error {
		n := seq.Add(1)
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/tickets",
			strings.NewReader(`{"subject":"Benchmark ticket `+strconv.FormatInt(n, 10)+`","description":"created by bench/create"`+priority+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "bench-"+strconv.FormatInt(n, 10))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			return fmt.Errorf("status %d: %s", res.StatusCode, body)
		}
		return nil
	}

	// Warm both paths (connections, caches, JIT of the JVM) before measuring.
	loadgen.Run("warmup-baseline", 4, 50, baseline)
	loadgen.Run("warmup-api", 4, 50, viaAPI)

	fmt.Printf("machine: %d CPUs, %s/%s, %s; Temporal embedded (in-memory SQLite), PostgreSQL and Elasticsearch local\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("requests per run: %d\n\n", requests)
	fmt.Println("| clients | path | throughput (/s) | p50 | p99 | errors |")
	fmt.Println("|---|---|---|---|---|---|")
	type pair struct {
		b, a       loadgen.Result
		bCPU, aCPU cpuUse
	}
	var pairs []pair
	use := func() cpuUse { return cpuUse{selfCPU(), pg.CPUTime(), es.CPUTime()} }
	for _, lv := range strings.Split(levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(lv))
		if err != nil || c < 1 {
			return fmt.Errorf("bad concurrency %q", lv)
		}
		u0 := use()
		b := loadgen.Run("baseline", c, requests, baseline)
		u1 := use()
		var prof *os.File
		if cpuProfile != "" {
			if prof, err = os.Create(fmt.Sprintf("%s.%d", cpuProfile, c)); err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(prof); err != nil {
				return err
			}
		}
		a := loadgen.Run("api", c, requests, viaAPI)
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
		u2 := use()
		for _, r := range []loadgen.Result{b, a} {
			fmt.Printf("| %d | %s | %.1f | %s | %s | %d |\n", c, r.Name, r.Throughput(),
				r.Percentile(0.50).Round(100*time.Microsecond), r.Percentile(0.99).Round(100*time.Microsecond), r.Errors)
		}
		pairs = append(pairs, pair{b, a, u1.sub(u0), u2.sub(u1)})
		if a.Errors+b.Errors > 0 {
			return fmt.Errorf("%d baseline and %d API calls failed; the figures would mean nothing", b.Errors, a.Errors)
		}
	}
	if routing > 0 {
		fmt.Println()
		fmt.Println("| agent | open tickets assigned by least-loaded |")
		fmt.Println("|---|---|")
		lo, hi := int(^uint(0)>>1), 0
		for _, id := range agents {
			var n int
			if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM tickets WHERE assignee_id = $1`, id).Scan(&n); err != nil {
				return err
			}
			lo, hi = min(lo, n), max(hi, n)
			fmt.Printf("| %d | %d |\n", id, n)
		}
		fmt.Printf("\nspread (max - min): %d\n", hi-lo)
	}
	fmt.Println()
	fmt.Printf("CPU per request (ms; the machine has %d cores):\n\n", runtime.NumCPU())
	fmt.Println("| clients | path | this process (API, worker, Temporal) | PostgreSQL | Elasticsearch | total |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, p := range pairs {
		for _, x := range []struct {
			r loadgen.Result
			u cpuUse
		}{{p.b, p.bCPU}, {p.a, p.aCPU}} {
			n := float64(int64(len(x.r.Latencies)) + x.r.Errors)
			ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)/n) }
			fmt.Printf("| %d | %s | %s | %s | %s | %s |\n", p.b.Concurrency, x.r.Name, ms(x.u.self), ms(x.u.pg), ms(x.u.es), ms(x.u.self+x.u.pg+x.u.es))
		}
	}
	fmt.Println()
	fmt.Println("| clients | throughput api/baseline (target ≥ 0.8) | p99 api/baseline (target ≤ 1.25) |")
	fmt.Println("|---|---|---|")
	for _, p := range pairs {
		fmt.Printf("| %d | %.2f | %.2f |\n", p.b.Concurrency, p.a.Throughput()/p.b.Throughput(),
			float64(p.a.Percentile(0.99))/float64(p.b.Percentile(0.99)))
	}
	return nil
}

// routingSetup makes a team of n agents, a priority rule and a
// least-loaded assignment rule that match every benchmark ticket.
func routingSetup(ctx context.Context, st *store.Store, ident *identity.Service, n int) ([]int64, error) {
	var ids []int64
	for i := 0; i < n; i++ {
		u, err := ident.CreateUser(ctx, identity.NewUser{Email: fmt.Sprintf("bench-agent-%d@example.com", i), Role: identity.RoleAgent})
		if err != nil {
			return nil, err
		}
		ids = append(ids, u.ID)
	}
	team, err := ident.CreateTeam(ctx, "Bench desk", nil, ids)
	if err != nil {
		return nil, err
	}
	high := "high"
	kw := []rules.Condition{{Field: rules.FieldKeywords, Op: "any", Value: []any{"benchmark"}}}
	for _, r := range []rules.Rule{
		{Name: "bench priority", Kind: rules.KindPriority, Enabled: true, Conditions: kw, Actions: rules.Actions{Priority: &high}},
		{Name: "bench desk", Kind: rules.KindAssignment, Enabled: true, Conditions: kw,
			Actions: rules.Actions{TeamID: &team.ID, Strategy: rules.StrategyLeastLoaded}},
	} {
		if _, err := st.SaveRule(ctx, r); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
