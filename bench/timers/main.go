// Command timers measures the ticket lifecycle under the load of many open
// tickets with pending timers (../shared/TARGETS.md: timer lateness p99 ≤ 1 s
// and worker memory ≤ 1 GiB RSS with 10,000 open tickets).
//
// One run starts a private PostgreSQL and Elasticsearch, an embedded
// Temporal server in its own process (PostgreSQL persistence by default,
// -persistence=sqlite for a SQLite file like `helpdesk dev`), `helpdesk
// worker` in its own process (so its RSS is the worker's alone) and the API
// in this process. It then:
//
//  1. warms up with -warmup tickets under the default SLA policy (hours:
//     nothing fires during the run) and measures creation throughput;
//  2. restarts the worker and serves a second API with a short SLA policy:
//     every priority gets first_response = T1 and resolution = T1 + -gap,
//     where T1 = the planned creation time of -n tickets at 0.8× the
//     warm-up throughput + -lead, so every deadline lies after the last
//     create and the deadlines spread over the creation window;
//  3. creates -n tickets at that pace, then PATCHes random tickets at
//     -patch-rate (priority flips between priorities with equal targets, so
//     deadlines do not move) while the timers are pending and firing;
//  4. waits for every sla_breached event (two per ticket) and reads timer
//     lateness as the event's created_at (the workflow time the timer fired)
//     minus its data.due_at (the deadline), sampling the RSS of the worker,
//     the Temporal server and this process every second.
//
// It prints a table on stdout (progress goes to stderr) and fails if a
// breach does not arrive within -breach-timeout of the last deadline, or if
// any request fails.
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/timers -n 10000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/stack"
	"github.com/helpdesk/helpdesk/internal/devstack/temporalserver"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/policies"
	"github.com/helpdesk/helpdesk/workflows"
)

// Targets from ../shared/TARGETS.md.
const (
	targetLatenessP99 = time.Second
	targetWorkerRSS   = 1 << 30 // bytes
)

// priorities all get the same SLA targets in the measured run.
var priorities = []string{"critical", "high", "medium", "low"}

type options struct {
	n             int
	persistence   string
	helpdeskBin   string
	warmup        int
	createClients int
	createRate    float64
	lead          time.Duration
	gap           time.Duration
	patchRate     float64
	patchClients  int
	breachTimeout time.Duration
	shards        int
	historySample int
	logs          string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 10000, "open tickets whose SLA timers are measured")
	flag.StringVar(&o.persistence, "persistence", "postgres", "Temporal persistence: postgres or sqlite (a file, like helpdesk dev)")
	flag.StringVar(&o.helpdeskBin, "helpdesk-bin", "", "helpdesk binary run as the worker process (default: go build ./cmd/helpdesk into a temporary directory)")
	flag.IntVar(&o.warmup, "warmup", 200, "warm-up tickets (default SLA policy; they stay open with far timers) that also measure creation throughput")
	flag.IntVar(&o.createClients, "create-clients", 16, "concurrent clients creating tickets")
	flag.Float64Var(&o.createRate, "create-rate", 0, "tickets created per second (0: 0.8× the warm-up throughput)")
	flag.DurationVar(&o.lead, "lead", time.Minute, "time from the planned end of creation to the first deadline (at least a tenth of the planned creation time)")
	flag.DurationVar(&o.gap, "gap", 0, "resolution target minus first-response target (0: the first-response deadlines' spread plus the lead, so the two clocks' deadlines do not overlap and deadlines come at the creation pace)")
	flag.Float64Var(&o.patchRate, "patch-rate", 5, "PATCH requests per second while timers are pending and firing (0: none)")
	flag.IntVar(&o.patchClients, "patch-clients", 4, "concurrent PATCH clients")
	flag.DurationVar(&o.breachTimeout, "breach-timeout", 5*time.Minute, "how long after the last deadline a missing breach is waited for")
	flag.IntVar(&o.shards, "shards", 1, "Temporal history shards")
	flag.IntVar(&o.historySample, "history-sample", 200, "tickets whose Temporal histories decompose the lateness")
	flag.StringVar(&o.logs, "logs", "", "copy the worker's and the Temporal server's logs into this directory at the end")
	// Internal: the same binary serves the embedded Temporal server as a
	// child process, so its memory is measured apart from the API's.
	serve := flag.String("serve-temporal", "", "internal: run only the embedded Temporal server (postgres or sqlite)")
	pgURL := flag.String("temporal-postgres-url", "", "internal: PostgreSQL URL of the Temporal server")
	sqliteFile := flag.String("temporal-sqlite-file", "", "internal: SQLite file of the Temporal server")
	flag.Parse()
	if *serve != "" {
		if err := serveTemporal(*pgURL, *sqliteFile, o.shards); err != nil {
			fmt.Fprintln(os.Stderr, "temporal:", err)
			os.Exit(1)
		}
		return
	}
	if o.persistence != "postgres" && o.persistence != "sqlite" {
		fmt.Fprintln(os.Stderr, "bench: -persistence must be postgres or sqlite")
		os.Exit(2)
	}
	if o.n < 1 || o.createClients < 1 || o.patchClients < 1 || o.patchRate < 0 {
		fmt.Fprintln(os.Stderr, "bench: -n, -create-clients and -patch-clients must be positive, -patch-rate not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serveTemporal is the child process: it runs the server until SIGTERM or
// until its stdin closes (the parent went away).
func serveTemporal(pgURL, sqliteFile string, shards int) error {
	ts, err := temporalserver.Start(temporalserver.Options{PostgresURL: pgURL, DatabaseFile: sqliteFile, HistoryShards: shards})
	if err != nil {
		return err
	}
	defer ts.Stop()
	fmt.Printf("ADDR %s\n", ts.Address)
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case <-done:
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	slog.SetDefault(logger)
	dir, err := os.MkdirTemp("", "helpdesk-bench-timers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.logs != "" {
		// Deferred after RemoveAll, so it runs first; also on failure.
		defer func() {
			for _, name := range []string{"temporal.log", "worker-warmup.log", "worker.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					_ = os.MkdirAll(o.logs, 0o755)
					_ = os.WriteFile(filepath.Join(o.logs, name), b, 0o644)
				}
			}
		}()
	}

	bin := o.helpdeskBin
	if bin == "" {
		bin = filepath.Join(dir, "helpdesk")
		progress("building the helpdesk binary for the worker process")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/helpdesk")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/helpdesk (run from the repository root, or pass -helpdesk-bin): %w", err)
		}
	} else if bin, err = filepath.Abs(bin); err != nil {
		return err
	}

	progress("starting PostgreSQL and Elasticsearch")
	// Temporal runs in its own process here (below), so the stack starts
	// only PostgreSQL and Elasticsearch.
	stackCfg := config.Default()
	stackCfg.DataDir = dir
	stackCfg.EnableEmailNotifications = false
	stackCfg.LogLevel = "warn"
	services, err := stack.Start(ctx, stack.Options{Name: "bench-timers", Config: &stackCfg, Elasticsearch: true})
	if err != nil {
		return err
	}
	defer services.Close()
	pg, st, ix := services.PG, services.Store, services.Index

	progress("starting Temporal (%s persistence) in its own process", o.persistence)
	tsArgs := []string{"-serve-temporal", o.persistence, "-shards", strconv.Itoa(o.shards)}
	if o.persistence == "postgres" {
		tsArgs = append(tsArgs, "-temporal-postgres-url", pg.URLFor("temporal"))
	} else {
		tsArgs = append(tsArgs, "-temporal-sqlite-file", filepath.Join(dir, "temporal.db"))
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	temporal, temporalAddr, err := startTemporal(ctx, self, tsArgs, filepath.Join(dir, "temporal.log"))
	if err != nil {
		return err
	}
	defer temporal.stop()
	progress("Temporal frontend at %s, namespace %s", temporalAddr, config.Default().TemporalNamespace)

	cfg := services.Config
	cfg.TemporalAddress = temporalAddr
	tc, err := client.DialContext(ctx, client.Options{HostPort: temporalAddr, Namespace: cfg.TemporalNamespace, Logger: sdklog.NewStructuredLogger(logger)})
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := workflows.EnsureNamespace(ctx, tc, cfg.TemporalNamespace, cfg.TemporalRetention.D()); err != nil {
		return err
	}

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
	startAPI := func(c config.Config) (string, func(), error) {
		srv := api.New(api.Deps{Config: c, Store: st, Index: ix, Temporal: tc, Logger: logger,
			Identity: ident, Audit: audit.New(st.Pool()), Enforcer: enforcer})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		go func() { _ = srv.Serve(ln) }()
		return "http://" + ln.Addr().String(), func() { _ = srv.Shutdown(context.Background()) }, nil
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}
	cl := &apiClient{hc: hc, token: token}

	// Warm-up on the default policy: measures creation throughput, warms
	// caches and the JVM; the tickets stay open with timers hours ahead.
	wk, err := startWorker(ctx, bin, cfg, tc, filepath.Join(dir, "worker-warmup.log"))
	if err != nil {
		return err
	}
	warmBase, stopWarm, err := startAPI(cfg)
	if err != nil {
		wk.stop()
		return err
	}
	var seq atomic.Int64
	progress("warm-up: %d tickets at %d clients", o.warmup, o.createClients)
	warm, err := createTickets(ctx, cl, warmBase, o.warmup, o.createClients, 0, &seq)
	stopWarm()
	wk.stop()
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	rate := o.createRate
	if rate <= 0 {
		rate = 0.8 * warm.throughput()
	}
	planned := time.Duration(float64(o.n) / rate * float64(time.Second))
	// Some slack for creation falling behind its pace: a tenth of the plan.
	t1 := (planned + max(o.lead, planned/10)).Round(time.Second)
	gap := o.gap
	if gap <= 0 {
		gap = (planned + max(o.lead, planned/10)).Round(time.Second)
	}
	t2 := t1 + gap
	progress("warm-up: %.1f tickets/s; creating %d at %.1f/s (planned %s), first response due %s and resolution %s after creation",
		warm.throughput(), o.n, rate, planned.Round(time.Second), t1, t2)

	lc := cfg
	lc.SLAPolicies = map[string]config.SLAPolicy{}
	for _, p := range priorities {
		lc.SLAPolicies[p] = config.SLAPolicy{FirstResponse: config.Duration(t1), Resolution: config.Duration(t2)}
	}
	lc.EnableEscalation = true
	lc.EscalationRules = []config.EscalationRule{
		{Name: "first-response-breached", Clock: "first_response", Percent: 100, Level: 1},
		{Name: "resolution-breached", Clock: "resolution", Percent: 100, Level: 2},
	}
	if err := lc.Validate(); err != nil {
		return fmt.Errorf("benchmark configuration: %w", err)
	}
	wk, err = startWorker(ctx, bin, lc, tc, filepath.Join(dir, "worker.log"))
	if err != nil {
		return err
	}
	defer wk.stop()
	base, stopAPI, err := startAPI(lc)
	if err != nil {
		return err
	}
	defer stopAPI()

	mem := newSampler(map[string]int{"worker": wk.cmd.Process.Pid, "temporal": temporal.cmd.Process.Pid, "bench": os.Getpid()})
	go mem.loop(ctx)
	defer mem.close()

	progress("creating %d tickets", o.n)
	made, err := createTickets(ctx, cl, base, o.n, o.createClients, rate, &seq)
	if err != nil {
		return err
	}
	created := time.Now()
	rssCreated := mem.now()
	firstDue := made.firstStart.Add(t1)
	lastDue := made.lastEnd.Add(t2)
	progress("created %d tickets in %s (%.1f/s); worker RSS %s; deadlines from %s to %s",
		o.n, made.elapsed.Round(time.Second), made.throughput(), mib(rssCreated["worker"]),
		firstDue.Format("15:04:05"), lastDue.Format("15:04:05"))

	// Updates while the timers are pending and firing.
	pctx, stopPatches := context.WithCancel(ctx)
	patches := make(chan patchResult, 1024)
	var pwg sync.WaitGroup
	if o.patchRate > 0 {
		patchLoad(pctx, cl, base, made.ids, o.patchRate, o.patchClients, patches, &pwg)
	}
	var results []patchResult
	collected := make(chan struct{})
	go func() {
		for r := range patches {
			results = append(results, r)
		}
		close(collected)
	}()

	lo, hi := made.minID(), made.maxID()
	want := 2 * o.n
	deadline := lastDue.Add(o.breachTimeout)
	var got int
	lastLog := time.Time{}
	for {
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM ticket_events WHERE kind = 'sla_breached' AND ticket_number BETWEEN $1 AND $2`, lo, hi).Scan(&got); err != nil {
			stopPatches()
			return fmt.Errorf("count breaches: %w", err)
		}
		if got >= want {
			break
		}
		if time.Since(lastLog) >= 15*time.Second {
			var conns int
			_ = st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity`).Scan(&conns)
			cur := mem.now()
			progress("breaches %d/%d; worker RSS %s, Temporal RSS %s; PostgreSQL connections %d",
				got, want, mib(cur["worker"]), mib(cur["temporal"]), conns)
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			stopPatches()
			return fmt.Errorf("only %d of %d SLA breaches arrived by %s (the last deadline was %s; -breach-timeout %s); see the worker log and the events table",
				got, want, deadline.Format("15:04:05"), lastDue.Format("15:04:05"), o.breachTimeout)
		}
		select {
		case <-ctx.Done():
			stopPatches()
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	stopPatches()
	pwg.Wait()
	close(patches)
	<-collected
	hwm := mem.hwm()
	peak := mem.peak()
	rssEnd := mem.now()

	rows, err := st.Pool().Query(ctx, `SELECT ticket_number, data->>'clock', created_at, data->>'due_at'
		FROM ticket_events WHERE kind = 'sla_breached' AND ticket_number BETWEEN $1 AND $2`, lo, hi)
	if err != nil {
		return err
	}
	var late []time.Duration
	type breach struct {
		n       int64
		due, at time.Time
	}
	var worst []breach // the latest few, for the tail's story on stderr
	var firstFired, lastFired time.Time
	seen := map[string]bool{}
	var dups, beforeCreated int
	for rows.Next() {
		var n int64
		var clock, dueRaw string
		var at time.Time
		if err := rows.Scan(&n, &clock, &at, &dueRaw); err != nil {
			rows.Close()
			return err
		}
		due, err := time.Parse(time.RFC3339Nano, dueRaw)
		if err != nil {
			rows.Close()
			return fmt.Errorf("ticket %d: sla_breached due_at %q: %w", n, dueRaw, err)
		}
		key := strconv.FormatInt(n, 10) + "/" + clock
		if seen[key] {
			dups++
		}
		seen[key] = true
		if due.Before(created) {
			beforeCreated++
		}
		late = append(late, at.Sub(due))
		worst = append(worst, breach{n, due, at})
		if at.After(lastFired) {
			lastFired = at
		}
		if firstFired.IsZero() || at.Before(firstFired) {
			firstFired = at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if dups > 0 {
		return fmt.Errorf("%d tickets breached the same SLA clock twice", dups)
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })

	progress("timer lateness over %d breaches: p50 %s, p99 %s, max %s; worker VmHWM %s",
		len(late), pct(late, 0.5), pct(late, 0.99), pct(late, 1), mib(hwm["worker"]))
	sort.Slice(worst, func(i, j int) bool { return worst[i].at.Sub(worst[i].due) > worst[j].at.Sub(worst[j].due) })
	for _, b := range worst[:min(3, len(worst))] {
		if b.at.Sub(b.due) > targetLatenessP99 {
			tellHistory(ctx, tc, b.n, b.due, b.at)
		}
	}
	parts, sampled, err := decompose(ctx, tc, made.ids, o.historySample)
	if err != nil {
		return err
	}

	var pending, firing []time.Duration
	var patchErrs, retried, unconfirmed int
	for _, r := range results {
		retried += r.unavailable
		if r.unconfirmed {
			unconfirmed++
		}
		if r.err != nil {
			patchErrs++
			continue
		}
		if r.at.Before(firstDue) {
			pending = append(pending, r.lat)
		} else {
			firing = append(firing, r.lat)
		}
	}
	if patchErrs > 0 {
		return fmt.Errorf("%d of %d PATCH requests failed (first: %v); the figures would mean nothing", patchErrs, len(results), firstErr(results))
	}

	pace := "so deadlines come at that pace"
	if overlap := made.elapsed - gap; overlap > 0 {
		pace = fmt.Sprintf("so deadlines come at that pace, twice as fast for the %s the two clocks' deadlines overlap", overlap.Round(time.Second))
	}
	persist := "PostgreSQL persistence (databases temporal, temporal_visibility on the same private cluster)"
	if o.persistence == "sqlite" {
		persist = "SQLite file persistence (like helpdesk dev)"
	}
	fmt.Printf("machine: %d CPUs, %s/%s, %s; Temporal embedded, %s, %d history shard(s), in its own process; `helpdesk worker` in its own process; API and load generator in this process; PostgreSQL and Elasticsearch local\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), persist, o.shards)
	fmt.Printf("open tickets: %d measured + %d warm-up; created at %.1f/s (planned %.1f/s, %d clients) in %s, %s; SLA first response %s and resolution %s after creation; timers fired from %s to %s (%s after the last create)\n",
		o.n, o.warmup, made.throughput(), rate, o.createClients, made.elapsed.Round(time.Second), pace, t1, t2,
		firstFired.Local().Format("15:04:05"), lastFired.Local().Format("15:04:05"), lastFired.Sub(created).Round(time.Second))
	loadMean, loadPeak := mem.loadAvg()
	fmt.Printf("SLA breaches: %d of %d arrived (%d with a deadline before the last create); 1-minute load average during the run: mean %.1f, max %.1f\n\n",
		len(late), want, beforeCreated, loadMean, loadPeak)
	fmt.Println("| figure | value | target |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| timer lateness p50 | %s | |\n", pct(late, 0.50))
	fmt.Printf("| timer lateness p99 | %s | ≤ %s: %s |\n", pct(late, 0.99), targetLatenessP99, verdict(pct(late, 0.99) <= targetLatenessP99))
	fmt.Printf("| timer lateness max | %s | |\n", pct(late, 1))
	fmt.Printf("| timers later than 1 s | %d of %d | |\n", countOver(late, time.Second), len(late))
	fmt.Printf("| Update (PATCH) p50 / p99, timers pending (%d requests) | %s | |\n", len(pending), p50p99(pending))
	fmt.Printf("| Update (PATCH) p50 / p99, timers firing (%d requests) | %s | |\n", len(firing), p50p99(firing))
	fmt.Printf("| PATCH answers 503 (not confirmed within update_timeout %s; retried with the same Idempotency-Key, counted in the latency) | %d | |\n", lc.UpdateTimeout.D(), retried)
	fmt.Printf("| PATCH requests still unconfirmed after %s of retries (in the latency with the time waited) | %d | |\n", patchGiveUp, unconfirmed)
	fmt.Printf("| lateness decomposed over the %d live timers that fired in %d sampled tickets (%d stale timers, left behind by changes, fired too): armed late (the arming workflow task's duration: the timer counts from its completion, the deadline from its start), p50 / p99 | %s | |\n",
		len(parts.armed), sampled, parts.stale, p50p99(parts.armed))
	fmt.Printf("| … server: fired after its expiry, p50 / p99 | %s | |\n", p50p99(parts.server))
	fmt.Printf("| … dispatch: fired → workflow task started, p50 / p99 | %s | |\n", p50p99(parts.dispatch))
	fmt.Printf("| workflow tasks timed out / failed in the sampled histories | %d / %d | |\n", parts.timedOut, parts.failed)
	fmt.Printf("| worker RSS, all tickets created | %s | |\n", mib(rssCreated["worker"]))
	fmt.Printf("| worker RSS peak (VmHWM) | %s | ≤ 1 GiB: %s |\n", mib(hwm["worker"]), verdict(hwm["worker"] <= targetWorkerRSS))
	fmt.Printf("| worker RSS at the end | %s | |\n", mib(rssEnd["worker"]))
	fmt.Printf("| Temporal server RSS peak (VmHWM) / at the end | %s / %s | |\n", mib(hwm["temporal"]), mib(rssEnd["temporal"]))
	fmt.Printf("| API + load generator process RSS peak (sampled) | %s | |\n", mib(peak["bench"]))
	if unconfirmed > 0 {
		return fmt.Errorf("%d changes were never confirmed (503 for %s); the table shows them", unconfirmed, patchGiveUp)
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func sorted(d []time.Duration) []time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

// pct is the p-quantile of sorted durations, rounded for the table.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	v := d[int(math.Round(float64(len(d)-1)*p))]
	if v > 10*time.Millisecond || v < -10*time.Millisecond {
		return v.Round(time.Millisecond)
	}
	return v.Round(10 * time.Microsecond)
}

func p50p99(d []time.Duration) string {
	if len(d) == 0 {
		return "not measured"
	}
	sorted(d)
	return fmt.Sprintf("%s / %s", pct(d, 0.5), pct(d, 0.99))
}

func countOver(d []time.Duration, limit time.Duration) int {
	n := 0
	for _, v := range d {
		if v > limit {
			n++
		}
	}
	return n
}

// lateness is a timer's lateness in three parts.
type lateness struct {
	armed, server, dispatch []time.Duration
	// stale counts timers that fired although a later timer had replaced
	// them: the Go SDK's AwaitWithOptions does not cancel its timer when
	// the condition ends the wait (SDKFlagCancelAwaitTimerOnCondition is
	// off by default in v1.50), so every change leaves one behind.
	stale int
	// Workflow tasks that timed out or failed in the sampled histories.
	timedOut, failed int
}

// decompose reads the Temporal histories of up to sample tickets (spread
// over ids) and splits each fired timer's lateness: a ticket's timer is
// computed from workflow.Now() (the start of the workflow task that arms
// it) but the server counts it from the task's completion (the
// TimerStarted event); the server then fires it (TimerFired) and a worker
// picks up the next workflow task (WorkflowTaskStarted: the workflow time
// the deadline is handled at).
func decompose(ctx context.Context, tc client.Client, ids []int64, sample int) (lateness, int, error) {
	var out lateness
	if sample <= 0 {
		return out, 0, nil
	}
	step := max(1, len(ids)/sample)
	n := 0
	for i := 0; i < len(ids) && n < sample; i += step {
		n++
		it := tc.GetWorkflowHistory(ctx, workflows.TicketWorkflowID(ids[i]), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var taskStarted time.Time // the latest WorkflowTaskStarted
		var latest int64          // the latest TimerStarted: the live timer
		skew := map[int64]time.Duration{}
		expiry := map[int64]time.Time{}
		var firedAt *time.Time // a timer fired; the next task started is its dispatch
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return out, n, fmt.Errorf("history of ticket %d: %w", ids[i], err)
			}
			at := e.GetEventTime().AsTime()
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				taskStarted = at
				if firedAt != nil {
					out.dispatch = append(out.dispatch, at.Sub(*firedAt))
					firedAt = nil
				}
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				// The server counts the timer from here; the workflow
				// computed it from taskStarted.
				latest = e.GetEventId()
				skew[e.GetEventId()] = at.Sub(taskStarted)
				expiry[e.GetEventId()] = at.Add(e.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration())
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
				out.timedOut++
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
				out.failed++
			case enumspb.EVENT_TYPE_TIMER_FIRED:
				id := e.GetTimerFiredEventAttributes().GetStartedEventId()
				if id != latest {
					out.stale++
					continue
				}
				if exp, ok := expiry[id]; ok {
					out.armed = append(out.armed, skew[id])
					out.server = append(out.server, at.Sub(exp))
					t := at
					firedAt = &t
				}
			}
		}
	}
	return out, n, nil
}

// tellHistory prints to stderr the history events of ticket n from a few
// seconds before a late deadline to its handling: what held it up.
func tellHistory(ctx context.Context, tc client.Client, n int64, due, handled time.Time) {
	progress("ticket %d: deadline %s handled %s late; its history around it (offsets from the deadline):",
		n, due.Format("15:04:05.000"), handled.Sub(due).Round(time.Millisecond))
	it := tc.GetWorkflowHistory(ctx, workflows.TicketWorkflowID(n), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	lines := 0
	for it.HasNext() && lines < 60 {
		e, err := it.Next()
		if err != nil {
			progress("  history: %v", err)
			return
		}
		at := e.GetEventTime().AsTime()
		if e.GetEventType() != enumspb.EVENT_TYPE_TIMER_STARTED && (at.Before(due.Add(-30*time.Second)) || at.After(handled.Add(2*time.Second))) {
			continue
		}
		detail := ""
		if a := e.GetWorkflowTaskTimedOutEventAttributes(); a != nil {
			detail = a.GetTimeoutType().String()
		}
		if a := e.GetWorkflowTaskFailedEventAttributes(); a != nil {
			detail = a.GetCause().String() + ": " + a.GetFailure().GetMessage()
		}
		if a := e.GetWorkflowTaskScheduledEventAttributes(); a != nil {
			detail = "queue " + a.GetTaskQueue().GetName() + " attempt " + strconv.Itoa(int(a.GetAttempt()))
		}
		if a := e.GetMarkerRecordedEventAttributes(); a != nil && a.GetFailure() != nil {
			detail = "failure: " + a.GetFailure().GetMessage()
		}
		if a := e.GetTimerStartedEventAttributes(); a != nil {
			exp := at.Add(a.GetStartToFireTimeout().AsDuration())
			detail = fmt.Sprintf("expires at %+.3fs", exp.Sub(due).Seconds())
		}
		if a := e.GetTimerFiredEventAttributes(); a != nil {
			detail = fmt.Sprintf("timer started by event %d", a.GetStartedEventId())
		}
		fmt.Fprintf(os.Stderr, "  %+9.3fs  %d %s %s\n", at.Sub(due).Seconds(), e.GetEventId(), e.GetEventType(), detail)
		lines++
	}
}

// apiClient calls the API with the bench's bearer token.
type apiClient struct {
	hc    *http.Client
	token string
}

func (c *apiClient) do(ctx context.Context, method, url, body, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Idempotency-Key", key)
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

type creation struct {
	ids        []int64
	firstStart time.Time
	lastEnd    time.Time
	elapsed    time.Duration
}

func (c creation) throughput() float64 { return float64(len(c.ids)) / c.elapsed.Seconds() }

func (c creation) minID() int64 {
	m := c.ids[0]
	for _, v := range c.ids {
		m = min(m, v)
	}
	return m
}

func (c creation) maxID() int64 {
	m := c.ids[0]
	for _, v := range c.ids {
		m = max(m, v)
	}
	return m
}

// createTickets creates n tickets from clients goroutines, at rate per
// second when rate > 0. A 503 (the workflow did not answer in time) is
// retried with the same Idempotency-Key, which returns the same ticket;
// any other failure stops the benchmark.
func createTickets(ctx context.Context, cl *apiClient, base string, n, clients int, rate float64, seq *atomic.Int64) (creation, error) {
	ids := make([]int64, n)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if rate > 0 {
					if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				k := seq.Add(1)
				body := fmt.Sprintf(`{"subject":"Timer benchmark ticket %d","description":"created by bench/timers","priority":%q}`, k, priorities[i%len(priorities)])
				key := "bench-timers-" + strconv.FormatInt(k, 10)
				var err error
				for attempt := 0; attempt < 5; attempt++ {
					var status int
					var b []byte
					status, b, err = cl.do(ctx, http.MethodPost, base+"/api/v1/tickets", body, key)
					// 200: a retry found the ticket the first attempt made.
					if err == nil && (status == http.StatusCreated || (attempt > 0 && status == http.StatusOK)) {
						var t struct {
							ID int64 `json:"id"`
						}
						if err = json.Unmarshal(b, &t); err == nil && t.ID == 0 {
							err = fmt.Errorf("201 without an id: %s", b)
						}
						ids[i] = t.ID
						break
					}
					if err == nil {
						err = fmt.Errorf("POST /api/v1/tickets: status %d: %s", status, b)
						if status != http.StatusServiceUnavailable {
							break
						}
					}
					time.Sleep(time.Second)
				}
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	if p := failed.Load(); p != nil {
		return creation{}, *p
	}
	if err := ctx.Err(); err != nil {
		return creation{}, err
	}
	return creation{ids: ids, firstStart: start, lastEnd: end, elapsed: end.Sub(start)}, nil
}

type patchResult struct {
	at          time.Time
	lat         time.Duration
	err         error
	unavailable int  // 503 answers retried
	unconfirmed bool // still 503 after patchGiveUp
}

// patchGiveUp is how long a PATCH client keeps retrying a 503.
const patchGiveUp = 3 * time.Minute

func firstErr(rs []patchResult) error {
	for _, r := range rs {
		if r.err != nil {
			return r.err
		}
	}
	return nil
}

// patchLoad starts clients that PATCH random tickets at rate per second
// until ctx ends, each time to another priority (all have the same SLA
// targets, so deadlines do not move; a PATCH to the current value would
// answer without an Update). Each client keeps its own schedule; a slow
// answer delays that client's next request (the count of requests shows it).
func patchLoad(ctx context.Context, cl *apiClient, base string, ids []int64, rate float64, clients int, out chan<- patchResult, wg *sync.WaitGroup) {
	// Tickets were created with priorities[i%4]; busy keeps two clients
	// off the same ticket at once.
	prio := make([]int32, len(ids))
	busy := make([]atomic.Bool, len(ids))
	for i := range prio {
		prio[i] = int32(i % len(priorities))
	}
	var slot atomic.Int64
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := slot.Add(1) - 1
				at := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(at)):
				}
				i := rand.IntN(len(ids))
				for !busy[i].CompareAndSwap(false, true) {
					i = rand.IntN(len(ids))
				}
				to := (prio[i] + 1 + rand.Int32N(int32(len(priorities)-1))) % int32(len(priorities))
				t0 := time.Now()
				r := patchResult{at: t0}
				// A 503 means the change was not confirmed within
				// update_timeout; the client retries with the same
				// Idempotency-Key as the answer says, and the latency runs
				// until the change is confirmed. A request cut off by the
				// end of the run is not a failure.
				for {
					status, b, err := cl.do(context.WithoutCancel(ctx), http.MethodPatch,
						fmt.Sprintf("%s/api/v1/tickets/%d", base, ids[i]), `{"priority":"`+priorities[to]+`"}`,
						fmt.Sprintf("bench-timers-patch-%d", k))
					r.err = err
					if err == nil && status != http.StatusOK {
						r.err = fmt.Errorf("PATCH ticket %d: status %d: %s", ids[i], status, b)
					}
					if status != http.StatusServiceUnavailable {
						break
					}
					if time.Since(t0) > patchGiveUp {
						r.unconfirmed, r.err = true, nil
						break
					}
					r.unavailable++
					time.Sleep(100 * time.Millisecond)
				}
				r.lat = time.Since(t0)
				if r.err == nil {
					prio[i] = to
				}
				busy[i].Store(false)
				out <- r
			}
		}()
	}
}

// child is a process this benchmark started.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // held open: the Temporal child exits when it closes
	done  chan struct{}
	log   string
	once  sync.Once
}

func startChild(cmd *exec.Cmd, logPath string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	// The kernel stops the child if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); f.Close(); close(c.done) }()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 30 s, then kills.
func (c *child) stop() {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
}

func (c *child) tail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func startTemporal(ctx context.Context, self string, args []string, logPath string) (*child, string, error) {
	cmd := exec.Command(self, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	// Its stdin stays open while this process lives.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	c, err := startChild(cmd, logPath)
	if err != nil {
		return nil, "", err
	}
	c.stdin = stdin
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return c, a, nil
	case <-c.done:
		return nil, "", fmt.Errorf("the Temporal server process exited during startup:\n%s", c.tail())
	case <-time.After(3 * time.Minute):
		c.stop()
		return nil, "", fmt.Errorf("the Temporal server did not start within 3 minutes:\n%s", c.tail())
	case <-ctx.Done():
		c.stop()
		return nil, "", ctx.Err()
	}
}

// startWorker runs `helpdesk worker` with cfg passed through the
// environment, and returns once it polls the ticket task queue.
func startWorker(ctx context.Context, bin string, cfg config.Config, tc client.Client, logPath string) (*child, error) {
	slaJSON, err := json.Marshal(cfg.SLAPolicies)
	if err != nil {
		return nil, err
	}
	rulesJSON, err := json.Marshal(cfg.EscalationRules)
	if err != nil {
		return nil, err
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HELPDESK_") {
			env = append(env, kv)
		}
	}
	set := map[string]string{
		"database_url":               cfg.DatabaseURL,
		"elasticsearch_url":          cfg.ElasticsearchURL,
		"elasticsearch_index":        cfg.ElasticsearchIndex,
		"temporal_address":           cfg.TemporalAddress,
		"temporal_namespace":         cfg.TemporalNamespace,
		"task_queue":                 cfg.TaskQueue,
		"data_dir":                   cfg.DataDir,
		"log_level":                  cfg.LogLevel,
		"enable_email_notifications": strconv.FormatBool(cfg.EnableEmailNotifications),
		"enable_escalation":          strconv.FormatBool(cfg.EnableEscalation),
		"sla_policies":               string(slaJSON),
		"escalation_rules":           string(rulesJSON),
	}
	for k, v := range set {
		env = append(env, config.EnvName(k)+"="+v)
	}
	cmd := exec.Command(bin, "worker")
	cmd.Env = env
	c, err := startChild(cmd, logPath)
	if err != nil {
		return nil, err
	}
	identity := strconv.Itoa(cmd.Process.Pid) + "@"
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c.exited() {
			return nil, fmt.Errorf("the worker exited during startup:\n%s", c.tail())
		}
		res, err := tc.DescribeTaskQueue(ctx, cfg.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil {
			for _, p := range res.GetPollers() {
				if strings.HasPrefix(p.GetIdentity(), identity) {
					return c, nil
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.stop()
			return nil, errors.Join(fmt.Errorf("the worker did not poll %s within 2 minutes:\n%s", cfg.TaskQueue, c.tail()), ctx.Err())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sampler reads the RSS of named processes every second.
type sampler struct {
	pids  map[string]int
	mu    sync.Mutex
	max   map[string]int64
	load  []float64 // 1-minute load average, every sample
	quit  chan struct{}
	close func()
}

func newSampler(pids map[string]int) *sampler {
	s := &sampler{pids: pids, max: map[string]int64{}, quit: make(chan struct{})}
	var once sync.Once
	s.close = func() { once.Do(func() { close(s.quit) }) }
	return s
}

func (s *sampler) loop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.now()
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case <-t.C:
		}
	}
}

// now reads the current RSS of every process (and keeps the maxima).
func (s *sampler) now() map[string]int64 {
	out := map[string]int64{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pid := range s.pids {
		rss, _ := procStatus(pid, "VmRSS:")
		out[name] = rss
		s.max[name] = max(s.max[name], rss)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				s.load = append(s.load, v)
			}
		}
	}
	return out
}

// loadAvg is the mean and maximum of the sampled 1-minute load average:
// the machine is shared, and this says how busy it was.
func (s *sampler) loadAvg() (mean, peak float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.load {
		mean += v
		peak = max(peak, v)
	}
	if len(s.load) > 0 {
		mean /= float64(len(s.load))
	}
	return mean, peak
}

func (s *sampler) peak() map[string]int64 {
	s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for k, v := range s.max {
		out[k] = v
	}
	return out
}

// hwm is the kernel's peak RSS of each process (VmHWM).
func (s *sampler) hwm() map[string]int64 {
	out := map[string]int64{}
	for name, pid := range s.pids {
		out[name], _ = procStatus(pid, "VmHWM:")
	}
	return out
}

// procStatus reads one "kB" field of /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}
