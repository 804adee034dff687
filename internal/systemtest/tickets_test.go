package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/web"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(r.body, into); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

func call(t *testing.T, base, method, path string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// Plain calls act as the bootstrap admin; a test passes its own
	// Authorization (or "" for none) to act as someone else.
	req.Header.Set("Authorization", "Bearer "+env.adminToken)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := env.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func createTicket(t *testing.T, body string, headers ...string) response {
	t.Helper()
	return call(t, env.baseURL, http.MethodPost, "/api/v1/tickets", []byte(body), headers...)
}

func ticketCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := env.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM tickets`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually retries check until it passes or the deadline is reached.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestCreateTicketEndToEnd(t *testing.T) {
	subject := fmt.Sprintf("Printer on fire %d", time.Now().UnixNano())
	res := createTicket(t, `{"subject":"`+subject+`","description":"3rd floor, next to the kitchen"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("POST status %d: %s", res.status, res.body)
	}
	var created ticket.Ticket
	res.decode(t, &created)
	if created.Number <= 0 || created.Subject != subject || created.Status != ticket.StatusOpen ||
		created.Priority != ticket.PriorityMedium || created.Assignee != nil || created.Description != "3rd floor, next to the kitchen" {
		t.Fatalf("created ticket %+v", created)
	}
	if created.CreatedAt.IsZero() || created.UpdatedAt.Before(created.CreatedAt) {
		t.Errorf("timestamps %v %v", created.CreatedAt, created.UpdatedAt)
	}
	if loc := res.header.Get("Location"); loc != fmt.Sprintf("/api/v1/tickets/%d", created.Number) {
		t.Errorf("Location %q", loc)
	}
	// Every ticket JSON carries the same fields.
	var raw map[string]any
	res.decode(t, &raw)
	for _, k := range []string{"id", "subject", "description", "status", "priority", "assignee", "created_at", "updated_at"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("ticket JSON lacks %q: %s", k, res.body)
		}
	}

	// A GET right after the write sees it.
	got := call(t, env.baseURL, http.MethodGet, fmt.Sprintf("/api/v1/tickets/%d", created.Number), nil)
	if got.status != http.StatusOK {
		t.Fatalf("GET status %d: %s", got.status, got.body)
	}
	var fetched ticket.Ticket
	got.decode(t, &fetched)
	if fetched.Number != created.Number || fetched.Subject != subject || !fetched.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("GET returned %+v, want %+v", fetched, created)
	}

	// The history has the created event.
	events, err := env.store.Events(context.Background(), created.Number)
	if err != nil || len(events) != 1 || events[0].Kind != "created" || events[0].Seq != 1 {
		t.Errorf("events %+v, %v", events, err)
	}

	// Found by an Elasticsearch full-text query.
	eventually(t, 15*time.Second, "ticket searchable in Elasticsearch", func() error {
		res, err := env.index.Search(context.Background(), search.Query{Text: subject, Statuses: []string{"open"}, Size: 10})
		if err != nil {
			return err
		}
		ids := res.Numbers
		for _, id := range ids {
			if id == created.Number {
				return nil
			}
		}
		return fmt.Errorf("query %q returned %v", subject, ids)
	})
	doc, version, err := env.index.Get(context.Background(), created.Number)
	if err != nil || version != 1 || doc.Status != "open" || doc.Priority != "medium" {
		t.Errorf("search document %+v version %d, %v", doc, version, err)
	}

	// Listed in Temporal visibility by TicketStatus.
	query := fmt.Sprintf(`TicketStatus = "open" AND WorkflowId = %q`, workflows.TicketWorkflowID(created.Number))
	eventually(t, 15*time.Second, "ticket listed in Temporal visibility", func() error {
		resp, err := env.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: env.cfg.TemporalNamespace, Query: query,
		})
		if err != nil {
			return err
		}
		if len(resp.Executions) != 1 {
			return fmt.Errorf("%s matched %d executions", query, len(resp.Executions))
		}
		return nil
	})
	// The operator sees a summary and the live state through the query.
	desc, err := env.temporal.DescribeWorkflow(context.Background(), workflows.TicketWorkflowID(created.Number), "")
	if err != nil {
		t.Fatal(err)
	}
	if summary, err := desc.GetStaticSummary(); err != nil || summary != fmt.Sprintf("Ticket #%d (medium)", created.Number) {
		t.Errorf("static summary %q, %v", summary, err)
	}
	v, err := env.temporal.QueryWorkflow(context.Background(), workflows.TicketWorkflowID(created.Number), "", workflows.QueryState)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.State
	if err := v.Get(&st); err != nil || st.Status != ticket.StatusOpen || !st.Persisted || st.Seq != 1 {
		t.Errorf("workflow state %+v, %v", st, err)
	}
	recordHistory(t, workflows.TicketWorkflowID(created.Number), "ticket-created.json")
}

// recordHistory saves a workflow's history for the replay test in
// workflows/ when HELPDESK_RECORD_HISTORY names a directory
// (workflows/testdata).
func recordHistory(t *testing.T, workflowID, name string) {
	t.Helper()
	dir := os.Getenv("HELPDESK_RECORD_HISTORY")
	if dir == "" {
		return
	}
	path := filepath.Join(dir, name)
	hist := &historypb.History{}
	iter := env.temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events of %s to %s", len(hist.Events), workflowID, path)
}

func TestCreateWithPriorityAndAssignee(t *testing.T) {
	res := createTicket(t, `{"subject":"VPN down","description":"","priority":"critical","assignee":"agent@example.com"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	if tk.Priority != ticket.PriorityCritical || tk.Assignee == nil || *tk.Assignee != "agent@example.com" || tk.Status != ticket.StatusOpen {
		t.Errorf("ticket %+v", tk)
	}
}

func TestIdempotentCreation(t *testing.T) {
	key := fmt.Sprintf("key-%d", time.Now().UnixNano())
	body := `{"subject":"Laptop will not boot","priority":"high"}`
	first := createTicket(t, body, "Idempotency-Key", key)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	before := ticketCount(t)
	replay := createTicket(t, body, "Idempotency-Key", key)
	if replay.status != http.StatusOK {
		t.Fatalf("replay: %d %s", replay.status, replay.body)
	}
	var a, b ticket.Ticket
	first.decode(t, &a)
	replay.decode(t, &b)
	if a.Number != b.Number || !a.CreatedAt.Equal(b.CreatedAt) {
		t.Errorf("replay returned ticket %d, first %d", b.Number, a.Number)
	}
	// Same key, different body: refused, nothing created.
	other := createTicket(t, `{"subject":"Something else"}`, "Idempotency-Key", key)
	if other.status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", other.status, other.body)
	}
	var p problem
	other.decode(t, &p)
	if p.Type != "/problems/idempotency-key-reused" || len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
		t.Errorf("problem %+v", p)
	}
	if after := ticketCount(t); after != before {
		t.Errorf("ticket count went from %d to %d", before, after)
	}
}

func TestConcurrentRepeatsMakeOneTicket(t *testing.T) {
	key := fmt.Sprintf("burst-%d", time.Now().UnixNano())
	before := ticketCount(t)
	const n = 8
	ids := make(chan int64, n)
	for i := 0; i < n; i++ {
		go func() {
			res := createTicket(t, `{"subject":"Double click"}`, "Idempotency-Key", key)
			var tk ticket.Ticket
			_ = json.Unmarshal(res.body, &tk)
			if res.status != http.StatusCreated && res.status != http.StatusOK {
				tk.Number = -int64(res.status)
			}
			ids <- tk.Number
		}()
	}
	first := <-ids
	for i := 1; i < n; i++ {
		if id := <-ids; id != first || id <= 0 {
			t.Errorf("concurrent repeat got ticket %d, another got %d", id, first)
		}
	}
	if after := ticketCount(t); after != before+1 {
		t.Errorf("%d identical requests created %d tickets", n, after-before)
	}
}

func TestErrorsAreProblems(t *testing.T) {
	long := strings.Repeat("x", 256)
	huge := `{"subject":"big","description":"` + strings.Repeat("a", 1<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		contentType              string
		status                   int
		typ                      string
		field                    string
	}{
		{"syntax", "POST", "/api/v1/tickets", `{"subject":`, "application/json", 400, "/problems/malformed-request", ""},
		{"not an object", "POST", "/api/v1/tickets", `["subject"]`, "application/json", 422, "/problems/validation-error", ""},
		{"wrong type", "POST", "/api/v1/tickets", `{"subject":42}`, "application/json", 422, "/problems/validation-error", "subject"},
		{"unknown field", "POST", "/api/v1/tickets", `{"subject":"a","status":"closed"}`, "application/json", 422, "/problems/validation-error", "status"},
		{"missing subject", "POST", "/api/v1/tickets", `{"description":"a"}`, "application/json", 422, "/problems/validation-error", "subject"},
		{"null subject", "POST", "/api/v1/tickets", `{"subject":null}`, "application/json", 422, "/problems/validation-error", "subject"},
		{"empty subject", "POST", "/api/v1/tickets", `{"subject":"   "}`, "application/json", 422, "/problems/validation-error", "subject"},
		{"subject too long", "POST", "/api/v1/tickets", `{"subject":"` + long + `"}`, "application/json", 422, "/problems/validation-error", "subject"},
		{"bad priority", "POST", "/api/v1/tickets", `{"subject":"a","priority":"urgent"}`, "application/json", 422, "/problems/validation-error", "priority"},
		{"priority type", "POST", "/api/v1/tickets", `{"subject":"a","priority":1}`, "application/json", 422, "/problems/validation-error", "priority"},
		{"too large", "POST", "/api/v1/tickets", huge, "application/json", 413, "/problems/request-too-large", ""},
		{"media type", "POST", "/api/v1/tickets", `subject=a`, "application/x-www-form-urlencoded", 415, "/problems/unsupported-media-type", ""},
		{"unknown ticket", "GET", "/api/v1/tickets/999999999", "", "", 404, "/problems/not-found", ""},
		{"ticket id not a number", "GET", "/api/v1/tickets/abc", "", "", 404, "/problems/not-found", ""},
		{"unknown route", "GET", "/api/v1/nothing-here", "", "", 404, "/problems/not-found", ""},
		{"limit too big", "GET", "/api/v1/tickets?limit=101", "", "", 422, "/problems/validation-error", "limit"},
		{"limit zero", "GET", "/api/v1/tickets?limit=0", "", "", 422, "/problems/validation-error", "limit"},
		{"bad cursor", "GET", "/api/v1/tickets?cursor=nonsense", "", "", 422, "/problems/validation-error", "cursor"},
	}
	before := ticketCount(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, env.baseURL+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+env.adminToken)
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			res, err := env.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("content type %q", ct)
			}
			var p problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("not JSON: %s", body)
			}
			if p.Type != c.typ || p.Status != c.status || p.Title == "" || p.Detail == "" {
				t.Errorf("problem %+v", p)
			}
			if c.field != "" {
				found := false
				for _, e := range p.Errors {
					found = found || (e.Field == c.field && e.Detail != "")
				}
				if !found {
					t.Errorf("no field error for %q: %s", c.field, body)
				}
			}
		})
	}
	if after := ticketCount(t); after != before {
		t.Errorf("bad requests created %d tickets", after-before)
	}
}

func TestListNewestFirstWithCursor(t *testing.T) {
	var made []int64
	for i := 0; i < 3; i++ {
		res := createTicket(t, fmt.Sprintf(`{"subject":"list %d"}`, i))
		if res.status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.status, res.body)
		}
		var tk ticket.Ticket
		res.decode(t, &tk)
		made = append(made, tk.Number)
	}
	var page struct {
		Items      []ticket.Ticket `json:"items"`
		NextCursor *string         `json:"next_cursor"`
	}
	call(t, env.baseURL, "GET", "/api/v1/tickets?limit=2", nil).decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].Number != made[2] || page.Items[1].Number != made[1] || page.NextCursor == nil {
		t.Fatalf("first page %+v", page)
	}
	cursor := *page.NextCursor
	page.NextCursor = nil
	call(t, env.baseURL, "GET", "/api/v1/tickets?limit=2&cursor="+cursor, nil).decode(t, &page)
	if len(page.Items) == 0 || page.Items[0].Number != made[0] {
		t.Fatalf("second page %+v", page)
	}
	// Default page size is 25 and the last page has no cursor.
	var all struct {
		Items      []ticket.Ticket `json:"items"`
		NextCursor *string         `json:"next_cursor"`
	}
	call(t, env.baseURL, "GET", "/api/v1/tickets", nil).decode(t, &all)
	if n := ticketCount(t); (n <= 25 && (len(all.Items) != n || all.NextCursor != nil)) || (n > 25 && len(all.Items) != 25) {
		t.Errorf("default page has %d items of %d, cursor %v", len(all.Items), n, all.NextCursor)
	}
}

// With no worker polling, creation answers 503 with Retry-After within the
// update deadline and writes no ticket; once a worker is back, a retry with
// the same key completes the very same ticket.
func TestWorkerDownAnswers503(t *testing.T) {
	cfg := env.cfg
	cfg.TaskQueue = fmt.Sprintf("no-worker-%d", time.Now().UnixNano())
	cfg.UpdateTimeout = config.Duration(2 * time.Second)
	srv := newAPI(cfg, nil)
	addr, err := listenAndServe(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + addr

	before := ticketCount(t)
	key := fmt.Sprintf("down-%d", time.Now().UnixNano())
	started := time.Now()
	res := call(t, base, "POST", "/api/v1/tickets", []byte(`{"subject":"Worker is down"}`), "Idempotency-Key", key)
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if res.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if waited := time.Since(started); waited > 20*time.Second {
		t.Errorf("the API waited %s: its wait must be bounded by update_timeout", waited)
	}
	var p problem
	res.decode(t, &p)
	if p.Type != "/problems/temporarily-unavailable" {
		t.Errorf("problem %+v", p)
	}
	if after := ticketCount(t); after != before {
		t.Fatalf("a ticket row was written while no worker ran (%d -> %d)", before, after)
	}

	w := startWorker(cfg.TaskQueue)
	defer w.Stop()
	// The workflow the first attempt started may finish before the retry
	// arrives (the new worker picks up its pending create): then the retry
	// is a replay and answers 200, as docs/api.md says. Either way the
	// ticket exists exactly once.
	retry := call(t, base, "POST", "/api/v1/tickets", []byte(`{"subject":"Worker is down"}`), "Idempotency-Key", key)
	if retry.status != http.StatusCreated && retry.status != http.StatusOK {
		t.Fatalf("retry after the worker came back: %d %s", retry.status, retry.body)
	}
	if after := ticketCount(t); after != before+1 {
		t.Errorf("retry made %d tickets", after-before)
	}
}

// Elasticsearch keeps event 5's state when event 3's write arrives later.
func TestIndexIgnoresOlderEvents(t *testing.T) {
	ctx := context.Background()
	ix, err := search.New(env.cfg.ElasticsearchURL, fmt.Sprintf("tickets-order-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	t5 := ticket.Ticket{Number: 77, Subject: "newer", Status: ticket.StatusResolved, Priority: ticket.PriorityHigh, CreatedAt: now, UpdatedAt: now, Seq: 5}
	t3 := ticket.Ticket{Number: 77, Subject: "older", Status: ticket.StatusInProgress, Priority: ticket.PriorityLow, CreatedAt: now, UpdatedAt: now, Seq: 3}
	if stale, err := ix.IndexTicket(ctx, t5, store.SearchExtras{}); err != nil || stale {
		t.Fatalf("index seq 5: stale=%v err=%v", stale, err)
	}
	stale, err := ix.IndexTicket(ctx, t3, store.SearchExtras{})
	if err != nil || !stale {
		t.Fatalf("index seq 3 after 5: stale=%v err=%v", stale, err)
	}
	doc, version, err := ix.Get(ctx, 77)
	if err != nil {
		t.Fatal(err)
	}
	if version != 5 || doc.Subject != "newer" || doc.Status != "resolved" {
		t.Errorf("index holds version %d %+v, want event 5's state", version, doc)
	}
}

// Concurrent writes share _bulk requests; each caller still learns its
// own outcome: every ticket ends at its newest version, and a write older
// than the stored one is reported stale, in the same group or a later one.
func TestIndexConcurrentWritesEachGetTheirOutcome(t *testing.T) {
	ctx := context.Background()
	ix, err := search.New(env.cfg.ElasticsearchURL, fmt.Sprintf("tickets-group-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.EnsureIndex(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	const tickets, versions = 60, 5
	type outcome struct {
		number, seq int64
		stale       bool
		err         error
	}
	out := make(chan outcome, tickets*versions)
	var wg sync.WaitGroup
	for n := int64(1); n <= tickets; n++ {
		for v := int64(1); v <= versions; v++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tk := ticket.Ticket{Number: n, Subject: fmt.Sprintf("ticket %d at %d", n, v), Status: ticket.StatusOpen,
					Priority: ticket.PriorityMedium, CreatedAt: now, UpdatedAt: now, Seq: v}
				stale, err := ix.IndexTicket(ctx, tk, store.SearchExtras{})
				out <- outcome{n, v, stale, err}
			}()
		}
	}
	wg.Wait()
	close(out)
	fresh := map[int64]int{}
	for o := range out {
		if o.err != nil {
			t.Fatalf("ticket %d seq %d: %v", o.number, o.seq, o.err)
		}
		if o.seq == versions && o.stale {
			t.Errorf("ticket %d: the newest write was reported stale", o.number)
		}
		if !o.stale {
			fresh[o.number]++
		}
	}
	for n := int64(1); n <= tickets; n++ {
		doc, version, err := ix.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if version != versions || doc.Subject != fmt.Sprintf("ticket %d at %d", n, versions) {
			t.Errorf("ticket %d: index holds version %d %q, want %d", n, version, doc.Subject, versions)
		}
		if fresh[n] < 1 || fresh[n] > versions {
			t.Errorf("ticket %d: %d writes reported applied", n, fresh[n])
		}
	}
}

func TestHealth(t *testing.T) {
	if res := call(t, env.baseURL, "GET", "/healthz", nil); res.status != http.StatusOK {
		t.Errorf("healthz %d", res.status)
	}
	res := call(t, env.baseURL, "GET", "/readyz", nil)
	var body struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	res.decode(t, &body)
	if res.status != http.StatusOK || !body.Ready || body.Checks["temporal"] != "ok" || body.Checks["postgres"] != "ok" || body.Checks["elasticsearch"] != "ok" {
		t.Errorf("readyz %d %s", res.status, res.body)
	}
}

func TestWebUIIsServed(t *testing.T) {
	res := call(t, env.baseURL, "GET", "/", nil)
	if res.status != http.StatusOK || !bytes.Contains(res.body, []byte(`<div id="root">`)) {
		t.Fatalf("GET / = %d %.200s", res.status, res.body)
	}
	ui, _ := web.Assets()
	if !web.HasIndex(ui) {
		t.Fatal("UI not embedded")
	}
}

// TestBrowserCreatesTicket drives Debian's Chromium with playwright-core:
// fill the form, submit, see the ticket listed.
func TestBrowserCreatesTicket(t *testing.T) {
	runE2E(t, "create-ticket.mjs", 2*time.Minute, "E2E_EMAIL=agent@example.com", "E2E_PASSWORD="+testPassword)
}

// TestBrowserWorksTicket drives Chromium through a ticket's lifecycle: the
// requester files a ticket; the agent opens it from the list, moves it to
// in progress, adds an internal note and a public reply and sees them in the
// timeline; the requester then sees the reply but not the note. Afterwards
// the server must hold exactly what the browser showed.
func TestBrowserWorksTicket(t *testing.T) {
	requester := login(t, "requester@example.com", testPassword)
	stamp := time.Now().UnixNano()
	subject := fmt.Sprintf("Laptop does not boot %d", stamp)
	number := createAs(t, requester, subject)
	note := fmt.Sprintf("Checked the logs: the disk is full (%d)", stamp)
	reply := fmt.Sprintf("We are on it and will update you within the hour (%d)", stamp)

	_, out := runE2E(t, "work-ticket.mjs", 3*time.Minute,
		"E2E_EMAIL=agent@example.com", "E2E_PASSWORD="+testPassword,
		"E2E_REQUESTER_EMAIL=requester@example.com", "E2E_REQUESTER_PASSWORD="+testPassword,
		"E2E_TICKET_SUBJECT="+subject, "E2E_NOTE_TEXT="+note, "E2E_REPLY_TEXT="+reply)
	if want := fmt.Sprintf("e2e: ticket %d\n", number); !bytes.Contains(out, []byte(want)) {
		t.Fatalf("the browser worked another ticket than #%d:\n%s", number, out)
	}

	// The server recorded what the browser showed, by the agent.
	if tk := rowOf(t, number); tk.Status != ticket.StatusInProgress {
		t.Errorf("ticket #%d is %s, want in_progress", number, tk.Status)
	}
	agentID := env.users["agent"].ID
	var moved, noted, replied int
	for _, h := range historyAs(t, login(t, "agent@example.com", testPassword), number) {
		switch {
		case h.Kind == "status_changed" && h.Data["from"] == "open" && h.Data["to"] == "in_progress" && h.actorID() == agentID:
			moved++
		case h.Kind == "comment" && h.Comment != nil && h.Comment.Body == note && h.Comment.Internal && h.actorID() == agentID:
			noted++
		case h.Kind == "comment" && h.Comment != nil && h.Comment.Body == reply && !h.Comment.Internal && h.actorID() == agentID:
			replied++
		}
	}
	if moved != 1 || noted != 1 || replied != 1 {
		t.Errorf("history of #%d: %d status changes open→in_progress, %d internal notes, %d public replies by the agent; want 1 each",
			number, moved, noted, replied)
	}
	for _, h := range historyAs(t, requester, number) {
		if h.Comment != nil && h.Comment.Body == note {
			t.Errorf("the requester's history of #%d holds the internal note", number)
		}
	}
}

// With Elasticsearch unreachable a ticket is still created at once; the
// workflow keeps retrying the projection, and a worker that can reach
// Elasticsearch later finishes it.
func TestElasticsearchDownDoesNotBlockCreation(t *testing.T) {
	cfg := env.cfg
	cfg.TaskQueue = fmt.Sprintf("es-down-%d", time.Now().UnixNano())
	deadPort, err := localsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	deadIndex, err := search.New(fmt.Sprintf("http://127.0.0.1:%d", deadPort), cfg.ElasticsearchIndex)
	if err != nil {
		t.Fatal(err)
	}
	blind := worker.New(worker.Deps{Client: env.temporal, TaskQueue: cfg.TaskQueue, Store: env.store, Index: deadIndex,
		IdempotencyTTL: cfg.IdempotencyTTL.D(), Logger: slog.Default()})
	if err := blind.Start(); err != nil {
		t.Fatal(err)
	}
	srv := newAPI(cfg, nil)
	addr, err := listenAndServe(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	res := call(t, "http://"+addr, "POST", "/api/v1/tickets", []byte(`{"subject":"Search is down"}`))
	if res.status != http.StatusCreated {
		blind.Stop()
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	if _, _, err := env.index.Get(context.Background(), tk.Number); err == nil {
		t.Fatal("indexed although the worker cannot reach Elasticsearch")
	}
	blind.Stop()

	healthy := startWorker(cfg.TaskQueue)
	defer healthy.Stop()
	eventually(t, 90*time.Second, "ticket indexed once Elasticsearch is reachable", func() error {
		doc, version, err := env.index.Get(context.Background(), tk.Number)
		if err != nil {
			return err
		}
		if version != 1 || doc.Subject != "Search is down" {
			return fmt.Errorf("document %+v version %d", doc, version)
		}
		return nil
	})
	recordHistory(t, workflows.TicketWorkflowID(tk.Number), "ticket-index-retried.json")
}
