package systemtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/devstack/corpus"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// indexNumbers projects tickets already in PostgreSQL into the index.
func indexNumbers(t *testing.T, numbers []int64) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	work := make(chan []int64)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				ts, err := env.store.TicketsByNumber(ctx, batch, nil)
				if err != nil {
					errs <- err
					return
				}
				extras, err := env.store.SearchExtras(ctx, batch...)
				if err != nil {
					errs <- err
					return
				}
				for _, tk := range ts {
					if _, err := env.index.IndexTicket(ctx, tk, extras[tk.Number]); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	for i := 0; i < len(numbers); i += 50 {
		work <- numbers[i:min(i+50, len(numbers))]
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := env.index.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestExportRoundTrip exports ~2,000 tickets as CSV and NDJSON: parsed
// back, the CSV has a header and one row per ticket equal to the rows in
// PostgreSQL; the stream is complete; a requester's export holds only
// their tickets, in their view, without internal notes.
func TestExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	req, err := env.ident.UserByEmail(ctx, "requester@example.com")
	if err != nil {
		t.Fatal(err)
	}
	w := fmt.Sprintf("exportword%d", time.Now().UnixNano())
	loaded, err := corpus.Load(ctx, env.store.Pool(), corpus.Options{N: 2000, Seed: 7, Now: time.Now(), Days: 30,
		Requesters: []int64{req.ID, env.users["requester2"].ID}, Prefix: w + " ",
		Statuses: []ticket.Status{ticket.StatusResolved, ticket.StatusClosed}})
	if err != nil {
		t.Fatal(err)
	}
	numbers := make([]int64, len(loaded))
	byNumber := map[int64]corpus.Ticket{}
	for i, tk := range loaded {
		numbers[i] = tk.Number
		byNumber[tk.Number] = tk
	}
	indexNumbers(t, numbers)

	res := call(t, env.baseURL, http.MethodGet, "/api/v1/tickets/export?format=csv&q="+url.QueryEscape(w), nil)
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v %.300s", res.status, res.header, res.body)
	}
	records, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	head := records[0]
	if !slices.Equal(head[:4], []string{"id", "subject", "status", "priority"}) || !slices.Contains(head, "requester") {
		t.Fatalf("header %v", head)
	}
	if len(records)-1 != len(loaded) {
		t.Fatalf("%d rows, want %d", len(records)-1, len(loaded))
	}
	col := func(name string) int { return slices.Index(head, name) }
	seen := map[int64]bool{}
	for _, r := range records[1:] {
		var n int64
		fmt.Sscan(r[0], &n)
		want, ok := byNumber[n]
		if !ok || seen[n] {
			t.Fatalf("row %v: not in the set or twice", r[:2])
		}
		seen[n] = true
		if r[col("subject")] != want.Subject || r[col("status")] != string(want.Status) || r[col("priority")] != string(want.Priority) ||
			r[col("created_at")] != want.CreatedAt.UTC().Format(time.RFC3339) {
			t.Fatalf("row %v differs from %+v", r, want)
		}
	}

	// NDJSON with comments, as the requester: only their tickets, their
	// view, no internal notes.
	s := login(t, "requester@example.com", testPassword)
	res = s.do(t, http.MethodGet, "/api/v1/tickets/export?format=ndjson&include=comments,history&q="+url.QueryEscape(w), "")
	if res.status != http.StatusOK {
		t.Fatalf("requester export: %d %s", res.status, res.body)
	}
	sc := bufio.NewScanner(bytes.NewReader(res.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	publicComments := 0
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		lines++
		if line["requester_id"].(float64) != float64(req.ID) {
			t.Fatalf("a requester exported someone else's ticket: %v", line)
		}
		if _, ok := line["assignee_id"]; ok {
			t.Fatalf("a requester's export has the staff view: %v", line)
		}
		for _, c := range line["comments"].([]any) {
			if c.(map[string]any)["internal"].(bool) {
				t.Fatalf("a requester's export holds an internal note: %v", c)
			}
			publicComments++
		}
		if strings.Contains(sc.Text(), "vendor case opened") {
			t.Fatalf("internal text leaked: %s", sc.Text())
		}
	}
	if lines == 0 || lines >= len(loaded) || publicComments == 0 {
		t.Errorf("requester export: %d lines (of %d), %d public comments", lines, len(loaded), publicComments)
	}
}

// TestExportDefusesFormulas: a subject a spreadsheet would run as a
// formula is exported as text; the BOM option starts the file with one.
func TestExportDefusesFormulas(t *testing.T) {
	w := fmt.Sprintf("formulaword%d", time.Now().UnixNano())
	var n []int64
	for _, subject := range []string{"=HYPERLINK(\"http://evil.example\",\"click\") " + w, "+1+1 " + w, "-2+3 " + w, "@SUM(A1) " + w, "plain " + w} {
		res := createTicket(t, fmt.Sprintf(`{"subject":%q}`, subject))
		var tk ticket.Ticket
		res.decode(t, &tk)
		n = append(n, tk.Number)
	}
	eventually(t, 20*time.Second, "searchable", func() error {
		_ = env.index.Refresh(context.Background())
		if a, _ := find(t, nil, w, ""); a.Total != 5 {
			return fmt.Errorf("found %d", a.Total)
		}
		return nil
	})
	res := call(t, env.baseURL, http.MethodGet, "/api/v1/tickets/export?bom=true&q="+url.QueryEscape(w), nil)
	if !bytes.HasPrefix(res.body, []byte("\xEF\xBB\xBF")) {
		t.Fatalf("no BOM: %.40q", res.body)
	}
	records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(res.body, []byte("\xEF\xBB\xBF")))).ReadAll()
	if err != nil || len(records) != 6 {
		t.Fatalf("%d records, %v", len(records), err)
	}
	for _, r := range records[1:] {
		if s := r[1]; strings.ContainsAny(s[:1], "=+-@") {
			t.Errorf("cell %q would run as a formula", s)
		}
	}
	if !strings.HasPrefix(records[1][1], "'=HYPERLINK") || records[5][1] != "plain "+w {
		t.Errorf("subjects %q, %q", records[1][1], records[5][1])
	}
	// A bad query is a 422 before anything streams.
	if res := call(t, env.baseURL, http.MethodGet, "/api/v1/tickets/export?q=stauts:open", nil); res.status != http.StatusUnprocessableEntity {
		t.Errorf("bad query: %d %s", res.status, res.body)
	}
}
