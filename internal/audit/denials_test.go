package audit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tablesSize is the on-disk size of the audit tables, indexes and TOAST
// included.
func tablesSize(t testing.TB, db testDB) int64 {
	t.Helper()
	var n int64
	err := db.pool.QueryRow(context.Background(),
		`SELECT pg_total_relation_size('audit_log') + pg_total_relation_size('audit_denials')`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// randomString is n bytes that do not compress, as an attacker would send.
func randomString(t testing.TB, n int) string {
	b := make([]byte, n*3/4+3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// aggregate is detail.aggregate of a flushed entry.
type aggregate struct {
	Count   int64  `json:"count"`
	Minute  string `json:"minute"`
	FirstAt string `json:"first_at"`
	LastAt  string `json:"last_at"`
	By      []struct {
		Object string         `json:"object"`
		Detail map[string]any `json:"detail"`
		Count  int64          `json:"count"`
	} `json:"by"`
	Other int64 `json:"other"`
}

func aggregateOf(t testing.TB, e Entry) aggregate {
	t.Helper()
	raw, err := json.Marshal(e.Detail["aggregate"])
	if err != nil {
		t.Fatal(err)
	}
	var a aggregate
	if err := json.Unmarshal(raw, &a); err != nil || a.Count == 0 {
		t.Fatalf("entry %d has no aggregate count: %s (%v)", e.ID, raw, err)
	}
	return a
}

// allEntries reads the whole log, oldest first.
func allEntries(t testing.TB, l *Log) []Entry {
	t.Helper()
	var out []Entry
	q := Query{Limit: MaxFindLimit}
	for {
		page, next, err := l.Find(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(page, out...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

// The attack: 10,000 anonymous denials from three addresses across two
// minutes, each carrying megabyte strings (the email typed into the
// sign-in form, the user agent, the path), counted by two API processes
// at once while both flush. The log gains a handful of rows, one per
// (minute, address, action), whose counts add up to exactly 10,000; the
// tables grow by kilobytes, not by 10,000 megabytes.
func TestAnonymousDenialFloodStaysBounded(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 6, 10, 30, 10, 0, time.UTC)
	l, db, clk := newLogAt(t, start)
	before := tablesSize(t, db)
	procs := []*Denials{l.NewDenials(nil), l.NewDenials(nil)}
	big := randomString(t, 1<<20)
	// The strings are made once: the attack's cost is the server's.
	objects := make([]string, 20)
	for i := range objects {
		objects[i] = fmt.Sprintf("user:%d%s@example.com", i, big)
	}
	path := "/api/v1/auth/login/" + big
	ips := []string{"192.0.2.1", "192.0.2.2", "2001:db8::7"}
	actions := []string{"auth.login", "ticket.read"}
	const total, workers = 10000, 64
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
		perKey  = map[string]int64{} // ip + action -> attempts made
		failed  atomic.Int64
		stopped = make(chan struct{})
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				if i == total/2 {
					clk.set(start.Add(time.Minute)) // the next minute starts mid-attack
				}
				ip, action := ips[i%3], actions[i%2]
				e := Entry{Action: action, Object: objects[i%20], Result: ResultDenied,
					IP: ip, UserAgent: big, RequestID: fmt.Sprint(i),
					Detail: map[string]any{"reason": "invalid credentials", "method": "POST", "path": path}}
				if err := procs[i%2].Record(ctx, e); err != nil {
					failed.Add(1)
					t.Error(err)
					return
				}
				mu.Lock()
				perKey[ip+" "+action]++
				mu.Unlock()
			}
		}()
	}
	// Both processes flush finished minutes while the attack goes on.
	var flushers sync.WaitGroup
	for range procs {
		flushers.Add(1)
		go func() {
			defer flushers.Done()
			for {
				select {
				case <-stopped:
					return
				default:
				}
				if _, err := l.FlushDenials(ctx, closedBefore(clk.now().Add(flushGrace))); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(stopped)
	flushers.Wait()
	for _, p := range procs {
		p.Close()
	}
	if failed.Load() > 0 {
		t.FailNow()
	}
	// The second minute is over: whoever flushes next writes it.
	clk.set(start.Add(3 * time.Minute))
	if _, err := l.FlushDenials(ctx, closedBefore(clk.now())); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM audit_denials`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d counts left unflushed (%v)", pending, err)
	}

	entries := allEntries(t, l)
	// One row per (minute, address, action) = 2 × 3 × 2; a flush that
	// catches a minute while its last counts are still being committed
	// writes a second row for it, so allow up to twice that.
	if len(entries) < 6 || len(entries) > 24 {
		t.Fatalf("%d audit rows for %d anonymous denials, want 6 to 24", len(entries), total)
	}
	got := map[string]int64{}
	var sum int64
	for _, e := range entries {
		if e.Actor != "anonymous" || e.Result != ResultDenied || e.ActorID != nil {
			t.Errorf("entry %d: actor %q result %q: want anonymous denied", e.ID, e.Actor, e.Result)
		}
		a := aggregateOf(t, e)
		var bySum int64
		for _, b := range a.By {
			bySum += b.Count
		}
		if len(a.By) > maxBreakdown || bySum+a.Other != a.Count {
			t.Errorf("entry %d: %d breakdown pairs counting %d plus %d other, want at most %d adding up to %d",
				e.ID, len(a.By), bySum, a.Other, maxBreakdown, a.Count)
		}
		got[e.IP+" "+e.Action] += a.Count
		sum += a.Count
		walkStrings(e, func(where, s string) {
			if len(s) > MaxStringBytes {
				t.Errorf("entry %d: %s is %d bytes", e.ID, where, len(s))
			}
		})
		if !cutRE.MatchString(e.UserAgent) || !cutRE.MatchString(e.Object) {
			t.Errorf("entry %d: user agent %.40q… / object %.40q… not marked as cut", e.ID, e.UserAgent, e.Object)
		}
	}
	if sum != total {
		t.Errorf("aggregated counts add up to %d, want exactly %d", sum, total)
	}
	for k, n := range perKey {
		if got[k] != n {
			t.Errorf("%s: counted %d, made %d", k, got[k], n)
		}
	}
	if res := mustVerify(t, l); !res.OK || res.Rows != int64(len(entries)) {
		t.Fatalf("verify = %+v", res)
	}
	// audit_denials only ever holds one live row per (minute, address,
	// action); VACUUM returns what its updates left behind.
	if _, err := db.pool.Exec(ctx, `VACUUM audit_denials`); err != nil {
		t.Fatal(err)
	}
	grown := tablesSize(t, db) - before
	t.Logf("%d denials → %d audit rows; audit tables grew by %d KiB", total, len(entries), grown>>10)
	if grown > 2<<20 {
		t.Errorf("audit tables grew by %d bytes for %d denials; want under 2 MiB (uncapped, one row each: over %d MiB)", grown, total, total)
	}
}

// A Record that returns has been committed: counts already taken survive
// the process (a new Denials, as after a restart, flushes them), and a
// closed counter refuses new ones instead of dropping them silently.
func TestDenialCountsAreDurableOnceRecorded(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 6, 10, 30, 10, 0, time.UTC)
	l, _, clk := newLogAt(t, start)
	d := l.NewDenials(nil)
	for i := range 3 {
		e := Entry{Action: "ticket.list", Object: "ticket", Result: ResultDenied, IP: "192.0.2.9",
			Detail: map[string]any{"reason": "unauthenticated", "try": i % 2}}
		if err := d.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	d.Close() // the minute is not over: nothing is flushed yet
	if err := d.Record(ctx, Entry{Action: "ticket.list", Result: ResultDenied, IP: "192.0.2.9"}); err == nil {
		t.Error("a closed counter took a denial")
	}
	if got := allEntries(t, l); len(got) != 0 {
		t.Fatalf("an unfinished minute was flushed: %+v", got)
	}
	// A signed-in caller's denial is not an anonymous one.
	other := l.NewDenials(nil)
	defer other.Close()
	if err := other.Record(ctx, Entry{ActorID: ptr(int64(3)), Actor: "ann@example.com", Action: "ticket.read", Result: ResultDenied}); err == nil {
		t.Error("a denial with an actor was counted as anonymous")
	}
	clk.set(start.Add(2 * time.Minute))
	restarted := l.NewDenials(nil)
	restarted.Close() // flushes what is over
	got := allEntries(t, l)
	if len(got) != 1 {
		t.Fatalf("%d entries after the restart's flush, want 1", len(got))
	}
	a := aggregateOf(t, got[0])
	if a.Count != 3 || len(a.By) != 2 || a.Minute != "2026-12-06T10:30:00Z" || got[0].Detail["reason"] != "unauthenticated" {
		t.Fatalf("aggregate %+v of entry %+v: want 3 attempts in minute 10:30 as two distinct pairs", a, got[0])
	}
}
