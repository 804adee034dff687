package systemtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

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

// superuser is a pool on the test database as the PostgreSQL superuser.
func superuser(t *testing.T) *pgxpool.Pool {
	t.Helper()
	u, err := url.Parse(env.pgAdminURL)
	if err != nil {
		t.Fatal(err)
	}
	app, err := url.Parse(env.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = app.Path
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
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
	// The attacker comes from an address of its own, so the sign-in
	// throttle it trips does not lock out the other tests on 127.0.0.1.
	const attacker = "127.0.0.2"
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(attacker)}}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients, DialContext: dialer.DialContext}}
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

	rows, err := env.store.Pool().Query(ctx, `SELECT id, ip, action, detail::text,
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
		var ip, action, detail string
		if err := rows.Scan(&id, &ip, &action, &detail, &longest); err != nil {
			t.Fatal(err)
		}
		if ip != attacker {
			t.Errorf("row %d is from %s, want only the attacker's %s", id, ip, attacker)
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

// GET /audit-log/verify walks the chain and names the first row someone
// edited behind the application's back (as the database superuser: the
// application's role cannot).
func TestAuditLogVerifyNamesTheEditedRow(t *testing.T) {
	ctx := context.Background()
	type verification struct {
		OK       bool  `json:"ok"`
		Rows     int64 `json:"rows"`
		FirstBad *struct {
			ID     int64      `json:"id"`
			At     *time.Time `json:"at"`
			Reason string     `json:"reason"`
		} `json:"first_bad"`
	}
	verify := func() verification {
		res := call(t, env.baseURL, http.MethodGet, "/api/v1/audit-log/verify", nil)
		if res.status != http.StatusOK {
			t.Fatalf("verify: %d %s", res.status, res.body)
		}
		var v verification
		res.decode(t, &v)
		return v
	}
	for range 3 { // audited reads, so the log has rows around the one edited
		if res := call(t, env.baseURL, http.MethodGet, "/api/v1/me", nil); res.status != http.StatusOK {
			t.Fatalf("me: %d", res.status)
		}
	}
	if v := verify(); !v.OK || v.Rows < 3 || v.FirstBad != nil {
		t.Fatalf("intact log: %+v", v)
	}
	// Edit a row in the middle of the log, then put it back.
	var id int64
	var object string
	var at time.Time
	if err := env.store.Pool().QueryRow(ctx, `SELECT id, object, at FROM audit_log ORDER BY id DESC OFFSET 2 LIMIT 1`).Scan(&id, &object, &at); err != nil {
		t.Fatal(err)
	}
	su := superuser(t)
	if _, err := su.Exec(ctx, `UPDATE audit_log SET object = 'ticket:1' || object WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			if _, err := su.Exec(ctx, `UPDATE audit_log SET object = $2 WHERE id = $1`, id, object); err != nil {
				t.Fatal(err)
			}
			restored = true
		}
	}
	t.Cleanup(restore)
	v := verify()
	if v.OK || v.FirstBad == nil || v.FirstBad.ID != id || v.FirstBad.At == nil || !v.FirstBad.At.Equal(at) ||
		!strings.Contains(v.FirstBad.Reason, fmt.Sprintf("row %d", id)) {
		t.Errorf("after editing row %d (at %v): %+v", id, at, v)
	}
	restore()
	if v := verify(); !v.OK {
		t.Errorf("after restoring row %d: %+v", id, v)
	}
}
