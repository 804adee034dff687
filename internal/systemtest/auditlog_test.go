package systemtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/audit"
)

// flushDenials moves every pending anonymous denial count, the current
// minute's too, into the audit log, so a test finds its own attempts there.
func flushDenials(t *testing.T) {
	t.Helper()
	if _, err := env.audit.FlushDenials(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// deniedAttempts sums the anonymous attempts on object that the aggregated
// entries count.
func deniedAttempts(t *testing.T, entries []audit.Entry, object string) int64 {
	t.Helper()
	var n int64
	for _, e := range entries {
		a := aggregateOf(t, e)
		for _, b := range a.By {
			if b.Object == object {
				n += b.Count
			}
		}
	}
	return n
}

// denialAggregate is detail.aggregate of an anonymous denials entry.
type denialAggregate struct {
	Count int64 `json:"count"`
	By    []struct {
		Object string `json:"object"`
		Count  int64  `json:"count"`
	} `json:"by"`
	Other int64 `json:"other"`
}

func aggregateOf(t *testing.T, e audit.Entry) denialAggregate {
	t.Helper()
	var a denialAggregate
	raw, err := json.Marshal(e.Detail["aggregate"])
	if err == nil {
		err = json.Unmarshal(raw, &a)
	}
	if err != nil {
		t.Fatalf("entry %d: aggregate %s: %v", e.ID, raw, err)
	}
	return a
}

func auditTablesSize(t *testing.T) int64 {
	t.Helper()
	var n int64
	err := env.store.Pool().QueryRow(context.Background(),
		`SELECT pg_total_relation_size('audit_log') + pg_total_relation_size('audit_denials')`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The attack: 10,000 anonymous denied requests as fast as 32 clients can
// send them, to a protected route with made-up API tokens and a 3 KB
// User-Agent (what fits in the server's header buffer), and to the sign-in
// form with a 2 KB email address. (Megabyte strings are the audit
// package's test: the body limits refuse them here before any audit.) The
// audit log gains a few rows with counts that add up to exactly 10,000,
// every string capped, and grows by kilobytes.
func TestAnonymousDenialFloodIsAggregated(t *testing.T) {
	ctx := context.Background()
	flushDenials(t)
	var baseline int64
	if err := env.store.Pool().QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM audit_log`).Scan(&baseline); err != nil {
		t.Fatal(err)
	}
	sizeBefore := auditTablesSize(t)
	const total, logins, clients = 10000, 20, 32
	random := func(n int) string {
		b := make([]byte, n/2)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	userAgent := random(3000)
	loginBody := fmt.Sprintf(`{"email":%q,"password":"guess"}`, random(2000)+"@example.com")
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	jobs := make(chan int)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var req *http.Request
				if i < logins {
					req, _ = http.NewRequest(http.MethodPost, env.baseURL+"/api/v1/auth/login", strings.NewReader(loginBody))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req, _ = http.NewRequest(http.MethodGet, env.baseURL+"/api/v1/tickets", nil)
					req.Header.Set("Authorization", "Bearer hd_"+random(32))
				}
				req.Header.Set("User-Agent", userAgent)
				res, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	hc.CloseIdleConnections()
	if statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != total {
		t.Fatalf("answers %v: want every attempt refused with 401 or 429", statuses)
	}
	flushDenials(t)

	rows, err := env.store.Pool().Query(ctx, `SELECT id, action, detail::text,
		greatest(octet_length(object), octet_length(user_agent), octet_length(ip)) FROM audit_log WHERE id > $1 ORDER BY id`, baseline)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	var counted int64
	perAction := map[string]int64{}
	for rows.Next() {
		var id, longest int64
		var action, detail string
		if err := rows.Scan(&id, &action, &detail, &longest); err != nil {
			t.Fatal(err)
		}
		n++
		var d struct {
			Aggregate denialAggregate `json:"aggregate"`
		}
		if err := json.Unmarshal([]byte(detail), &d); err != nil || d.Aggregate.Count == 0 {
			t.Fatalf("row %d is not an aggregate of anonymous denials: %s (%v)", id, detail, err)
		}
		counted += d.Aggregate.Count
		perAction[action] += d.Aggregate.Count
		if longest > audit.MaxStringBytes || len(detail) > 16<<10 {
			t.Errorf("row %d: longest string %d bytes, detail %d bytes: want strings capped to %d", id, longest, len(detail), audit.MaxStringBytes)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Two actions; the attack may span a minute boundary, and the API's
	// own flush may catch a minute while its last counts commit.
	if n == 0 || n > 8 {
		t.Errorf("%d audit rows for %d anonymous denials, want 1 to 8", n, total)
	}
	if counted != total || perAction["auth.login"] != logins || perAction["ticket.list"] != total-logins {
		t.Errorf("counts add up to %d (%v), want exactly %d (%d sign-ins)", counted, perAction, total, logins)
	}
	grown := auditTablesSize(t) - sizeBefore
	t.Logf("%d anonymous denials (answers %v) → %d audit rows; audit tables grew by %d KiB", total, statuses, n, grown>>10)
	if grown > 4<<20 {
		t.Errorf("audit tables grew by %d bytes; one row per attempt would take over %d MiB", grown, total*3000>>20)
	}
	if v, err := env.audit.Verify(ctx); err != nil || !v.OK {
		t.Errorf("audit chain after the flood: %+v %v", v, err)
	}
}
