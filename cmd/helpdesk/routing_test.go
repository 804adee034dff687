package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startCommand runs `helpdesk <args>` as its own process and waits until a
// line of its output contains ready. The test may kill it; it is killed
// at the end either way.
func startCommand(t *testing.T, env []string, ready string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append(env, "HELPDESK_TEST_AS_MAIN=1")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	done := make(chan error, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default:
			}
		}
		done <- cmd.Wait()
	}()
	// Errors the process logs after it is ready are kept and shown if the
	// test fails (a 500 is logged only there).
	var (
		errMu  sync.Mutex
		errors []string
	)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		errMu.Lock()
		defer errMu.Unlock()
		if t.Failed() && len(errors) > 0 {
			t.Logf("helpdesk %s logged:\n%s", strings.Join(args, " "), strings.Join(errors, "\n"))
		}
	})
	var seen []string
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l := <-lines:
			seen = append(seen, l)
			if strings.Contains(l, ready) {
				go func() { // keep draining so the process never blocks on output
					for l := range lines {
						if strings.Contains(l, "level=ERROR") {
							errMu.Lock()
							if len(errors) < 50 {
								errors = append(errors, l)
							}
							errMu.Unlock()
						}
					}
				}()
				return cmd
			}
		case err := <-done:
			t.Fatalf("helpdesk %s exited early (%v):\n%s", strings.Join(args, " "), err, strings.Join(seen, "\n"))
		case <-deadline:
			t.Fatalf("helpdesk %s not ready after 2 minutes:\n%s", strings.Join(args, " "), strings.Join(seen, "\n"))
		}
	}
}

// devDeployment is a `helpdesk dev` (without dev mail) started on free
// ports in a fresh data directory, and what other helpdesk processes need
// to join its deployment.
type devDeployment struct {
	home  string // the test's directory; the data directory is in it
	api   string // the dev process's API address
	pgURL string
	// joined is a joining process's environment: the same data directory,
	// Temporal, PostgreSQL, Elasticsearch and bootstrap token (the same
	// deployment, the same option: an API process started without it
	// would revoke the bootstrap token).
	joined []string
}

// startDevDeployment starts `helpdesk dev` with bootstrap as its bootstrap
// token ("" for none) and the extra settings, and waits until it runs.
func startDevDeployment(t *testing.T, bootstrap string, extra ...string) devDeployment {
	t.Helper()
	home := t.TempDir()
	dataDir := filepath.Join(home, ".data")
	ports := freePorts(t, 5)
	d := devDeployment{home: home, api: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		pgURL: fmt.Sprintf("postgres://helpdesk@127.0.0.1:%d/helpdesk?sslmode=disable", ports[3])}
	temporal := fmt.Sprintf("127.0.0.1:%d", ports[1])
	startDev(t, append([]string{
		"HELPDESK_DATA_DIR=" + dataDir,
		"HELPDESK_HTTP_ADDR=" + d.api,
		"HELPDESK_TEMPORAL_ADDRESS=" + temporal,
		fmt.Sprintf("HELPDESK_DEV_TEMPORAL_UI_PORT=%d", ports[2]),
		fmt.Sprintf("HELPDESK_DEV_POSTGRES_PORT=%d", ports[3]),
		fmt.Sprintf("HELPDESK_DEV_ELASTICSEARCH_PORT=%d", ports[4]),
		"HELPDESK_DATABASE_URL=", "HELPDESK_ELASTICSEARCH_URL=", "HELPDESK_DEV_MAIL=false",
		"HELPDESK_BOOTSTRAP_TOKEN=" + bootstrap,
	}, extra...))
	d.joined = []string{
		"HELPDESK_DATA_DIR=" + dataDir,
		"HELPDESK_TEMPORAL_ADDRESS=" + temporal,
		"HELPDESK_DATABASE_URL=" + d.pgURL,
		fmt.Sprintf("HELPDESK_ELASTICSEARCH_URL=http://127.0.0.1:%d", ports[4]),
		"HELPDESK_BOOTSTRAP_TOKEN=" + bootstrap,
	}
	return d
}

type apiClient struct {
	t     *testing.T
	hc    *http.Client
	token string
}

func (a apiClient) do(addr, method, path, body string, want int, into any) {
	a.t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		a.t.Fatalf("%s %s on %s: %d %s", method, path, addr, res.StatusCode, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// create POSTs a ticket as an API client should: with an Idempotency-Key,
// repeating the request after a 503 (accepted, not yet confirmed: the
// machine is busy) until it is confirmed (201, or 200 for the repeat).
func (a apiClient) create(addr, body, key string, into any) {
	a.t.Helper()
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/tickets", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Idempotency-Key", key)
		res, err := a.hc.Do(req)
		if err != nil {
			a.t.Fatalf("POST /api/v1/tickets: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusCreated || res.StatusCode == http.StatusOK:
			if err := json.Unmarshal(b, into); err != nil {
				a.t.Fatalf("POST /api/v1/tickets: %v in %s", err, b)
			}
			return
		case res.StatusCode == http.StatusServiceUnavailable && attempt < 10:
			time.Sleep(2 * time.Second)
		default:
			a.t.Fatalf("POST /api/v1/tickets on %s (attempt %d): %d %s", addr, attempt, res.StatusCode, b)
		}
	}
}

// TestRoutingHoldsAcrossTwoAPIsAndTwoWorkers is the fairness claim of
// automatic assignment where it can break: 500 creates, sent concurrently
// to two API processes, run by the workflows of two worker processes
// (`helpdesk dev` serves one API and one worker; a separate `helpdesk api`
// and `helpdesk worker` join it on the same Temporal, PostgreSQL and
// Elasticsearch). Round-robin must spread its tickets within one between
// agents and least-loaded must never pass an agent's cap, with no ticket
// lost or made twice.
func TestRoutingHoldsAcrossTwoAPIsAndTwoWorkers(t *testing.T) {
	const bootstrap = "routing-test-bootstrap-token-0123456789"
	d := startDevDeployment(t, bootstrap)
	api1, api2 := d.api, fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	startCommand(t, append(d.joined, "HELPDESK_HTTP_ADDR="+api2), "api listening", "api")
	startCommand(t, d.joined, "worker polling", "worker")

	a := apiClient{t: t, hc: &http.Client{Timeout: 60 * time.Second}, token: bootstrap}
	const perTeam, rrAgents, llAgents, llCap = 250, 4, 4, 50
	team := func(name string, n int) (int64, []int64) {
		var ids []int64
		for i := 0; i < n; i++ {
			var u struct {
				ID int64 `json:"id"`
			}
			a.do(api1, "POST", "/api/v1/users", fmt.Sprintf(`{"email":"%s-%d@example.com","name":"%s %d","role":"agent","password":"a long agent password"}`,
				name, i, name, i), http.StatusCreated, &u)
			ids = append(ids, u.ID)
		}
		members, _ := json.Marshal(ids)
		var tm struct {
			ID int64 `json:"id"`
		}
		a.do(api2, "POST", "/api/v1/teams", fmt.Sprintf(`{"name":"%s desk","member_ids":%s}`, name, members), http.StatusCreated, &tm)
		return tm.ID, ids
	}
	rrTeam, rr := team("printers", rrAgents)
	llTeam, ll := team("network", llAgents)
	for _, id := range ll {
		a.do(api1, "PATCH", fmt.Sprintf("/api/v1/agents/%d", id), fmt.Sprintf(`{"capacity":%d}`, llCap), http.StatusOK, nil)
	}
	a.do(api1, "POST", "/api/v1/rules", fmt.Sprintf(`{"name":"Printers in turn","kind":"assignment","position":1,
		"conditions":[{"field":"keywords","op":"any","value":["printer"]}],"actions":{"team_id":%d,"strategy":"round_robin"}}`, rrTeam), http.StatusCreated, nil)
	a.do(api2, "POST", "/api/v1/rules", fmt.Sprintf(`{"name":"Network to the least busy","kind":"assignment","position":2,
		"conditions":[{"field":"keywords","op":"any","value":["network"]}],"actions":{"team_id":%d,"strategy":"least_loaded"}}`, llTeam), http.StatusCreated, nil)

	type created struct {
		Number     int64  `json:"id"`
		Subject    string `json:"subject"`
		TeamID     *int64 `json:"team_id"`
		AssigneeID *int64 `json:"assignee_id"`
	}
	var (
		mu      sync.Mutex
		results []created
		wg      sync.WaitGroup
		jobs    = make(chan int)
	)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				addr, topic := api1, "printer"
				if i%2 == 1 {
					addr = api2
				}
				if i%4 >= 2 {
					topic = "network"
				}
				var c created
				a.create(addr, fmt.Sprintf(`{"subject":"%s trouble %d","description":"see subject"}`, topic, i), fmt.Sprintf("routing-%d", i), &c)
				mu.Lock()
				results = append(results, c)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 2*perTeam; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	seen := map[int64]bool{}
	perAgent := map[int64]int{}
	unassigned := 0
	for _, c := range results {
		if seen[c.Number] {
			t.Fatalf("ticket #%d answered twice", c.Number)
		}
		seen[c.Number] = true
		want := rrTeam
		if strings.HasPrefix(c.Subject, "network") {
			want = llTeam
		}
		if c.TeamID == nil || *c.TeamID != want {
			t.Fatalf("ticket #%d %q in team %v, want %d", c.Number, c.Subject, c.TeamID, want)
		}
		if c.AssigneeID == nil {
			unassigned++
			continue
		}
		perAgent[*c.AssigneeID]++
	}
	if len(seen) != 2*perTeam {
		t.Fatalf("%d tickets created, want %d", len(seen), 2*perTeam)
	}
	spread := func(ids []int64) (lo, hi int) {
		lo = 1 << 30
		for _, id := range ids {
			lo, hi = min(lo, perAgent[id]), max(hi, perAgent[id])
		}
		return
	}
	if lo, hi := spread(rr); hi-lo > 1 || lo+hi == 0 {
		t.Errorf("round-robin spread %d..%d over %v, want within one", lo, hi, perAgent)
	}
	// Demand (250) is above the team's capacity (4 × 50): every agent is
	// filled exactly to the cap and the rest wait in the team queue.
	if lo, hi := spread(ll); lo != llCap || hi != llCap {
		t.Errorf("least-loaded per agent %d..%d, want exactly the cap %d", lo, hi, llCap)
	}
	if unassigned != perTeam-llAgents*llCap {
		t.Errorf("%d tickets left in the team queue, want %d", unassigned, perTeam-llAgents*llCap)
	}
	// What the answers said is what the system of record holds, as the
	// other API process reads it.
	var agents struct {
		Items []struct {
			ID          int64 `json:"id"`
			OpenTickets int   `json:"open_tickets"`
		} `json:"items"`
	}
	a.do(api2, "GET", "/api/v1/agents", "", http.StatusOK, &agents)
	listed := 0
	for _, ag := range agents.Items {
		if _, ok := perAgent[ag.ID]; ok {
			listed++
		}
		if n, ok := perAgent[ag.ID]; ok && ag.OpenTickets != n {
			t.Errorf("agent %d holds %d open tickets, the create answers said %d", ag.ID, ag.OpenTickets, n)
		}
	}
	if listed != len(perAgent) {
		t.Errorf("GET /api/v1/agents listed %d of the %d agents that got tickets", listed, len(perAgent))
	}
}
