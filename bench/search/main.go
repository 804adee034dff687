// Command search measures finding and acting on many tickets (issue 20;
// ../shared/TARGETS.md): search p95 ≤ 50 ms and change → searchable p95
// ≤ 2 s.
//
// One run starts a private PostgreSQL, Elasticsearch (heap -es-heap) and
// an embedded Temporal server, the worker and the API in this process,
// then:
//
//  1. loads -n synthetic tickets straight into PostgreSQL (COPY,
//     internal/devstack/corpus) and builds the index from PostgreSQL with
//     the reindex path (`helpdesk reindex`): load and indexing rates;
//  2. runs five typical queries -repeat times each through the API as an
//     agent (scope filter on), without and with facets: p50/p95/p99;
//  3. creates -live workflow-backed tickets through the API and measures
//     the single-ticket Update rate (PATCH at -concurrency) and the lag
//     from a change to the search finding it (-lag samples);
//  4. runs one bulk action over the live set (priority change) and reads
//     its throughput from GET /bulk/{id};
//  5. exports the whole corpus as CSV through the API: rows/s and the
//     API process's heap growth while it streams.
//
// It prints markdown tables on stdout (progress on stderr).
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/search -n 100000
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/bench/loadgen"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/corpus"
	"github.com/helpdesk/helpdesk/internal/devstack/stack"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/policies"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

// Targets from ../shared/TARGETS.md and the issue.
const (
	targetSearchP95 = 50 * time.Millisecond
	targetLagP95    = 2 * time.Second
)

type opts struct {
	n, live, repeat, lag, concurrency, esHeap int
	bulk, export                              bool
}

func main() {
	var o opts
	flag.IntVar(&o.n, "n", 100000, "synthetic tickets loaded with COPY")
	flag.IntVar(&o.live, "live", 5000, "workflow-backed tickets created through the API (bulk and lag)")
	flag.IntVar(&o.repeat, "repeat", 200, "runs of each query")
	flag.IntVar(&o.lag, "lag", 100, "change → searchable samples")
	flag.IntVar(&o.concurrency, "concurrency", 16, "clients creating and changing tickets")
	flag.IntVar(&o.esHeap, "es-heap", 2048, "Elasticsearch heap (MB)")
	flag.BoolVar(&o.bulk, "bulk", true, "measure a bulk action over the live set")
	flag.BoolVar(&o.export, "export", true, "measure an export of the corpus")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// client calls the API with one token.
type client struct {
	base, token string
	hc          *http.Client
}

func (c client) do(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func (c client) search(q, extra string) (int64, error) {
	code, body, err := c.do(http.MethodGet, "/api/v1/tickets/search?q="+url.QueryEscape(q)+"&"+extra, "")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("search %q: %d %s", q, code, body)
	}
	var page struct {
		Total int64 `json:"total"`
	}
	return page.Total, json.Unmarshal(body, &page)
}

type world struct {
	requesters, agents, teams, categories []int64
	teamNames, categoryNames              []string
	agent, admin                          client
}

func run(o opts) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	slog.SetDefault(logger)
	base := config.Default()
	base.RequestTimeout = config.Duration(30 * time.Second)
	services, err := stack.Start(ctx, stack.Options{Name: "bench-search", Config: &base, Elasticsearch: true, ESHeapMB: o.esHeap,
		Temporal: true, SetupNamespace: workflows.EnsureNamespace, Logger: logger})
	if err != nil {
		return err
	}
	defer services.Close()
	cfg, st, ix, tc := services.Config, services.Store, services.Index, services.Client
	ident := identity.New(st.Pool())
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		return err
	}
	// With the identity service and the access policy the worker runs
	// bulk actions too.
	tw := worker.New(worker.Deps{Client: tc, TaskQueue: cfg.TaskQueue, Store: st, Index: ix, Logger: logger,
		Identity: ident, Policy: enforcer, AgentsSeeAllTickets: cfg.AgentsSeeAllTickets,
		BulkMaxTickets: cfg.BulkMaxTickets, UpdateTimeout: cfg.UpdateTimeout.D()})
	if err := tw.Start(); err != nil {
		return err
	}
	defer tw.Stop()
	srv := api.New(api.Deps{Config: cfg, Store: st, Index: ix, Temporal: tc, Logger: logger,
		Identity: ident, Audit: audit.New(st.Pool()), Enforcer: enforcer})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Minute}
	w, err := seed(ctx, st, ident, "http://"+ln.Addr().String(), hc)
	if err != nil {
		return err
	}

	fmt.Printf("machine: %d CPUs, %s/%s, %s; PostgreSQL, Elasticsearch (heap %d MB) and embedded Temporal local; API and worker in this process\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), o.esHeap)

	// 1. Corpus and index.
	progress("loading %d tickets with COPY", o.n)
	t0 := time.Now()
	var numbers []int64
	for left, chunk := o.n, 0; left > 0; chunk++ {
		n := min(left, 50000)
		ts, err := corpus.Load(ctx, st.Pool(), corpus.Options{N: n, Seed: uint64(chunk + 1), Now: time.Now(), Days: 180,
			Requesters: w.requesters, Agents: w.agents, Teams: w.teams, Categories: w.categories})
		if err != nil {
			return err
		}
		for _, t := range ts {
			numbers = append(numbers, t.Number)
		}
		left -= n
	}
	loadTime := time.Since(t0)
	progress("indexing %d tickets from PostgreSQL", len(numbers))
	t0 = time.Now()
	indexed, err := indexAll(ctx, st, ix)
	if err != nil {
		return err
	}
	indexTime := time.Since(t0)
	fmt.Println("| corpus | tickets | seconds | tickets/s |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| COPY into PostgreSQL | %d | %.1f | %.0f |\n", o.n, loadTime.Seconds(), float64(o.n)/loadTime.Seconds())
	fmt.Printf("| index from PostgreSQL (reindex path) | %d | %.1f | %.0f |\n\n", indexed, indexTime.Seconds(), float64(indexed)/indexTime.Seconds())

	// 2. Queries.
	queries := []struct{ name, q, extra string }{
		{"filters", "status:open,pending priority:>=high", "sort=urgency"},
		{"text + phrase", `printer "paper jam"`, ""},
		{"queue", "status:open assignee:none created:<30d", "sort=urgency"},
		{"names + negation", fmt.Sprintf(`team:%q category:%q -tag:spam updated:<90d`, w.teamNames[1], w.categoryNames[2]), "sort=-updated"},
		{"text + dates", "vpn status:open,in_progress due:<2h breached:false", ""},
	}
	fmt.Println("| query | matches | facets | p50 | p95 | p99 | target p95 |")
	fmt.Println("|---|---|---|---|---|---|---|")
	worst := time.Duration(0)
	for _, facets := range []bool{false, true} {
		for _, q := range queries {
			extra := q.extra + fmt.Sprintf("&facets=%v&limit=25", facets)
			total, err := w.agent.search(q.q, extra)
			if err != nil {
				return err
			}
			for range 10 { // warm caches
				_, _ = w.agent.search(q.q, extra)
			}
			r := loadgen.Run(q.name, 1, o.repeat, func(int) error { _, err := w.agent.search(q.q, extra); return err })
			if r.Errors > 0 {
				return fmt.Errorf("query %s: %d errors", q.name, r.Errors)
			}
			if !facets {
				worst = max(worst, r.Percentile(0.95))
			}
			fmt.Printf("| `%s` | %d | %v | %s | %s | %s | %s |\n", q.q+" "+q.extra, total, facets, ms(r.Percentile(0.5)), ms(r.Percentile(0.95)), ms(r.Percentile(0.99)), ms(targetSearchP95))
		}
	}
	fmt.Printf("\nsearch p95 (worst of five, no facets): %s — target ≤ %s: %s\n\n", ms(worst), ms(targetSearchP95), verdict(worst <= targetSearchP95))

	// 3. Live set, Update rate, change → searchable lag.
	live, err := createLive(w.admin, o.live, o.concurrency)
	if err != nil {
		return err
	}
	prios := []string{"low", "medium"}
	var flip atomic.Int64
	single := loadgen.Run("patch", o.concurrency, min(len(live), 2000), func(i int) error {
		n := live[i%len(live)]
		code, body, err := w.admin.do(http.MethodPatch, fmt.Sprintf("/api/v1/tickets/%d", n), fmt.Sprintf(`{"priority":%q}`, prios[flip.Add(1)%2]))
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("patch %d: %d %s", n, code, body)
		}
		return err
	})
	if single.Errors > 0 {
		return fmt.Errorf("%d PATCH errors", single.Errors)
	}
	lags, err := measureLag(w.admin, live, o.lag)
	if err != nil {
		return err
	}
	fmt.Println("| live set | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| workflow-backed tickets | %d |\n", len(live))
	fmt.Printf("| single-ticket Update rate (PATCH, %d clients) | %.1f tickets/s (p50 %s, p99 %s) |\n", o.concurrency, single.Throughput(), ms(single.Percentile(0.5)), ms(single.Percentile(0.99)))
	fmt.Printf("| change → searchable p50 / p95 / max (%d samples) | %s / %s / %s (target p95 ≤ %s: %s) |\n", len(lags),
		ms(pct(lags, 0.5)), ms(pct(lags, 0.95)), ms(lags[len(lags)-1]), ms(targetLagP95), verdict(pct(lags, 0.95) <= targetLagP95))

	// 4. Bulk.
	if o.bulk {
		rate, total, elapsed, err := measureBulk(w.admin)
		if err != nil {
			return err
		}
		fmt.Printf("| bulk priority change over the live set | %d tickets in %.1f s = %.1f tickets/s (%.2f× the single-ticket rate) |\n",
			total, elapsed.Seconds(), rate, rate/single.Throughput())
	}
	fmt.Println()

	// 5. Export.
	if o.export {
		rows, elapsed, heapGrowth, err := measureExport(w.admin)
		if err != nil {
			return err
		}
		fmt.Println("| export | rows | seconds | rows/s | API heap growth while streaming |")
		fmt.Println("|---|---|---|---|---|")
		fmt.Printf("| CSV, whole corpus | %d | %.1f | %.0f | %.1f MiB |\n", rows, elapsed.Seconds(), float64(rows)/elapsed.Seconds(), float64(heapGrowth)/(1<<20))
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func pct(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(float64(len(sorted)-1)*p)]
}

// seed makes the people, teams and categories the corpus refers to, and
// tokens for an admin and an agent in two of the four teams.
func seed(ctx context.Context, st *store.Store, ident *identity.Service, base string, hc *http.Client) (world, error) {
	var w world
	mk := func(email string, role identity.Role) (int64, error) {
		u, err := ident.CreateUser(ctx, identity.NewUser{Email: email, Name: email, Role: role})
		return u.ID, err
	}
	admin, err := mk("admin@bench.example", identity.RoleAdmin)
	if err != nil {
		return w, err
	}
	agent, err := mk("agent@bench.example", identity.RoleAgent)
	if err != nil {
		return w, err
	}
	w.agents = append(w.agents, agent)
	for i := range 200 {
		id, err := mk(fmt.Sprintf("requester%d@bench.example", i), identity.RoleRequester)
		if err != nil {
			return w, err
		}
		w.requesters = append(w.requesters, id)
	}
	for i := range 10 {
		id, err := mk(fmt.Sprintf("agent%d@bench.example", i), identity.RoleAgent)
		if err != nil {
			return w, err
		}
		w.agents = append(w.agents, id)
	}
	for i := range 4 {
		members := w.agents[1+i*2 : 3+i*2]
		if i < 2 {
			members = append([]int64{agent}, members...)
		}
		name := fmt.Sprintf("Team %d", i)
		t, err := ident.CreateTeam(ctx, name, nil, members)
		if err != nil {
			return w, err
		}
		w.teams, w.teamNames = append(w.teams, t.ID), append(w.teamNames, name)
	}
	for i := range 10 {
		var id int64
		name := fmt.Sprintf("Category %d", i)
		if err := st.Pool().QueryRow(ctx, `INSERT INTO categories (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
			return w, err
		}
		w.categories, w.categoryNames = append(w.categories, id), append(w.categoryNames, name)
	}
	token := func(user int64) (string, error) {
		tok, _, err := ident.CreateToken(ctx, user, "bench", []string{identity.ScopeTicketsWrite, identity.ScopeTicketsRead}, nil)
		return tok, err
	}
	at, err := token(admin)
	if err != nil {
		return w, err
	}
	gt, err := token(agent)
	if err != nil {
		return w, err
	}
	w.admin, w.agent = client{base, at, hc}, client{base, gt, hc}
	return w, nil
}

// indexAll builds the index from PostgreSQL with `helpdesk reindex`'s
// code (a new version loaded in pages, then swapped behind the alias) and
// answers how many documents it wrote.
func indexAll(ctx context.Context, st *store.Store, ix *search.Index) (int64, error) {
	res, err := search.Reindex(ctx, ix, st, search.ReindexOptions{})
	if err != nil {
		return 0, err
	}
	return res.Loaded + res.Replayed, ix.Refresh(ctx)
}

// createLive creates n workflow-backed tickets through the API.
func createLive(c client, n, concurrency int) ([]int64, error) {
	progress("creating %d workflow-backed tickets", n)
	var mu sync.Mutex
	var out []int64
	r := loadgen.Run("create", concurrency, n, func(i int) error {
		code, body, err := c.do(http.MethodPost, "/api/v1/tickets",
			fmt.Sprintf(`{"subject":"livebench%d printer on floor %d","description":"created by bench/search","priority":"medium"}`, i, i%7))
		if err != nil {
			return err
		}
		if code != http.StatusCreated {
			return fmt.Errorf("create: %d %s", code, body)
		}
		var t struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(body, &t); err != nil {
			return err
		}
		mu.Lock()
		out = append(out, t.ID)
		mu.Unlock()
		return nil
	})
	if r.Errors > 0 {
		return nil, fmt.Errorf("%d create errors", r.Errors)
	}
	slices.Sort(out)
	return out, nil
}

// measureLag changes a ticket's priority to critical and polls a search
// for it (by its own word) until it is found: the time from sending the
// change to the search seeing it.
func measureLag(c client, live []int64, samples int) ([]time.Duration, error) {
	progress("measuring change → searchable lag")
	rng := rand.New(rand.NewPCG(1, 2))
	var lags []time.Duration
	for i := range samples {
		n := live[rng.IntN(len(live))]
		_, body, err := c.do(http.MethodGet, fmt.Sprintf("/api/v1/tickets/%d", n), "")
		if err != nil {
			return nil, err
		}
		var t struct {
			Subject  string `json:"subject"`
			Priority string `json:"priority"`
		}
		if err := json.Unmarshal(body, &t); err != nil {
			return nil, err
		}
		to := "critical"
		if t.Priority == "critical" {
			to = "low"
		}
		word := strings.Fields(t.Subject)[0]
		start := time.Now()
		if code, body, err := c.do(http.MethodPatch, fmt.Sprintf("/api/v1/tickets/%d", n), fmt.Sprintf(`{"priority":%q}`, to)); err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("patch: %d %s %v", code, body, err)
		}
		for {
			total, err := c.search(word+" priority:"+to, "facets=false&limit=1")
			if err != nil {
				return nil, err
			}
			if total == 1 {
				lags = append(lags, time.Since(start))
				break
			}
			if time.Since(start) > 30*time.Second {
				return nil, fmt.Errorf("sample %d: ticket %d not searchable after 30 s", i, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	slices.Sort(lags)
	return lags, nil
}

// measureBulk changes the priority of every live ticket with one bulk
// action and waits for it to finish.
func measureBulk(c client) (rate float64, total int64, elapsed time.Duration, err error) {
	progress("bulk action over the live set")
	start := time.Now()
	// The live tickets' description; corpus tickets (no workflow) never
	// match it.
	code, body, err := c.do(http.MethodPost, "/api/v1/bulk", `{"query":"\"created by bench/search\"","change":{"priority":"high"}}`)
	if err != nil {
		return 0, 0, 0, err
	}
	if code != http.StatusAccepted {
		return 0, 0, 0, fmt.Errorf("bulk: %d %s", code, body)
	}
	var job struct {
		ID any `json:"id"`
	}
	if err := json.Unmarshal(body, &job); err != nil {
		return 0, 0, 0, err
	}
	for {
		time.Sleep(250 * time.Millisecond)
		code, body, err := c.do(http.MethodGet, fmt.Sprintf("/api/v1/bulk/%v", job.ID), "")
		if err != nil {
			return 0, 0, 0, err
		}
		var st struct {
			State  string `json:"state"`
			Total  int64  `json:"total"`
			Done   int64  `json:"done"`
			Failed int64  `json:"failed"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
			return 0, 0, 0, fmt.Errorf("bulk status: %d %s", code, body)
		}
		if st.State != "running" && st.State != "pending" {
			elapsed = time.Since(start)
			if st.State != "completed" || st.Failed > 0 {
				return 0, 0, 0, fmt.Errorf("bulk ended %s: %s", st.State, body)
			}
			return float64(st.Total) / elapsed.Seconds(), st.Total, elapsed, nil
		}
	}
}

// measureExport streams every ticket as CSV and samples this process's
// heap (the API's) while it runs.
func measureExport(c client) (rows int64, elapsed time.Duration, growth uint64, err error) {
	progress("exporting the corpus")
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
				metrics.Read(s)
				if v := s[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, c.base+"/api/v1/tickets/export?format=csv&q=", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.hc.Do(req)
	if err != nil {
		close(stop)
		return 0, 0, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		close(stop)
		b, _ := io.ReadAll(res.Body)
		return 0, 0, 0, fmt.Errorf("export: %d %s", res.StatusCode, b)
	}
	sc := bufio.NewReaderSize(res.Body, 1<<20)
	for {
		line, err := sc.ReadSlice('\n')
		if bytes.HasSuffix(line, []byte("\r\n")) {
			rows++
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			close(stop)
			return 0, 0, 0, err
		}
	}
	elapsed = time.Since(start)
	close(stop)
	rows-- // the header
	if p := peak.Load(); p > before {
		growth = p - before
	}
	return rows, elapsed, growth, nil
}
