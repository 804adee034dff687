package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingHandler counts log records with one message.
type countingHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// Concurrent appends through the group-commit writer keep one valid chain
// and every caller gets its own stored row back.
func TestWriterGroupCommitKeepsChain(t *testing.T) {
	ctx := context.Background()
	l := New(newDB(t).pool)
	w := l.NewWriter()
	var wg sync.WaitGroup
	ids := make(chan int64, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, err := w.Append(ctx, Entry{Actor: "writer@example.com", Action: "ticket.read", Object: fmt.Sprintf("ticket:%d", i),
				Result: ResultAllowed, Detail: map[string]any{"i": i}})
			if err != nil {
				t.Error(err)
				return
			}
			if e.ID == 0 || len(e.Hash) == 0 || e.Object != fmt.Sprintf("ticket:%d", i) {
				t.Errorf("entry %d came back as %+v", i, e)
			}
			ids <- e.ID
		}(i)
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %d returned twice", id)
		}
		seen[id] = true
	}
	res, err := l.Verify(ctx)
	if err != nil || !res.OK {
		t.Fatalf("chain after concurrent writer appends: %+v %v", res, err)
	}
	// A bad entry fails alone.
	if _, err := w.Append(ctx, Entry{Actor: "x", Action: "y", Result: "maybe"}); err == nil {
		t.Error("invalid result accepted")
	}
	// After Close, Append refuses instead of hanging or panicking.
	w.Close()
	w.Close()
	if _, err := w.Append(ctx, Entry{Actor: "x", Action: "y", Result: ResultAllowed}); err == nil {
		t.Error("append after close accepted")
	}
}

func countRows(t *testing.T, db testDB) int {
	t.Helper()
	var n int
	if err := db.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func readEntry(i int) Entry {
	return Entry{Actor: "reader@example.com", Action: "ticket.read", Object: fmt.Sprintf("ticket:%d", i),
		Result: ResultAllowed, Detail: map[string]any{"i": i}}
}

// Reads are answered before their audit entries commit; every queued entry
// must still be in the log, in one valid chain, once the writer is closed.
func TestEnqueuedEntriesAreWrittenByClose(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	l := New(db.pool)
	w := l.NewWriter()
	const n = 2000
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				if err := w.Enqueue(ctx, readEntry(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	w.Close()
	if got := countRows(t, db); got != n {
		t.Fatalf("%d entries queued, %d written", n, got)
	}
	if res := mustVerify(t, l); !res.OK {
		t.Fatalf("chain: %+v", res)
	}
	if err := w.Enqueue(ctx, readEntry(0)); err == nil {
		t.Fatal("enqueue after close accepted an entry nobody will write")
	}
}

// An audit log that cannot keep up (here: its chain head is locked by
// another transaction) makes callers wait for room in the queue rather
// than lose entries; a caller whose patience runs out is told its entry
// was not taken. Once the log moves again, everything taken is written.
func TestFullQueueHoldsCallersBackAndDropsNothing(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	l := New(db.pool)
	w := l.NewWriter()
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM audit_chain_head FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	taken := 0
	for i := 0; ; i++ {
		qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := w.Enqueue(qctx, readEntry(i))
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("enqueue into a full queue: %v", err)
			}
			break
		}
		taken++
		if taken > 10*queueLen {
			t.Fatal("the queue never filled: Enqueue is not bounded")
		}
	}
	if taken < queueLen {
		t.Fatalf("only %d entries taken before the queue was full, want at least %d", taken, queueLen)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := countRows(t, db); got != taken {
		t.Fatalf("%d entries taken, %d written", taken, got)
	}
}

// A batch that fails (here: the database refuses the insert for a while)
// is retried until it commits, instead of being dropped.
func TestFailedBatchIsRetriedUntilCommitted(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	l := New(db.pool)
	w := l.NewWriter()
	var retries atomic.Int64
	w.logger = slog.New(countingHandler{msg: "audit: batch not committed; retrying", n: &retries})
	var role string
	if err := db.pool.QueryRow(ctx, `SELECT current_user`).Scan(&role); err != nil {
		t.Fatal(err)
	}
	db.admin(t, `REVOKE INSERT ON audit_log FROM `+role)
	for i := 0; i < 50; i++ {
		if err := w.Enqueue(ctx, readEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for retries.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the writer never retried the refused batch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	db.admin(t, `GRANT INSERT ON audit_log TO `+role)
	w.Close()
	if got := countRows(t, db); got != 50 {
		t.Fatalf("50 entries queued while inserts failed, %d written", got)
	}
	if res := mustVerify(t, l); !res.OK {
		t.Fatalf("chain: %+v", res)
	}
}

// The writer's shortcut for flat details must store and hash exactly what
// normalizeDetail would, for every kind of detail (including ones that
// must take the long way).
func TestFlatDetailIsNormalizeDetail(t *testing.T) {
	cases := []map[string]any{
		nil,
		{},
		{"status": 200, "method": "GET", "path": "/api/v1/tickets/12", "via": "token", "token_id": int64(7)},
		{"n": -42, "big": int64(1) << 62, "ok": true, "no": false},
		{"html": "<a href=\"x\">&amp;</a>", "unicode": "Grüße, 東京 🎫", "empty": ""},
		{"long": strings.Repeat("x", 1<<20)},
		{"bad utf8": "a\xffb\xfe\xfdc"},
		{"nul": "a\x00b"},
		{"bad\xffkey": "v"},
		{"float": 1.5, "s": "x"},
		{"nested": map[string]any{"a": 1}, "list": []any{1, "two"}},
		{"uint": uint(3)},
	}
	for _, d := range cases {
		wantMap, wantJSON, wantErr := normalizeDetail(d)
		gotMap, gotJSON, gotErr := normalizeFlatDetail(d)
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%.80v: error %v, want %v", d, gotErr, wantErr)
			continue
		}
		if !bytes.Equal(gotJSON, wantJSON) || !reflect.DeepEqual(gotMap, wantMap) {
			t.Errorf("%.80v:\n got  %.200s %#.200v\n want %.200s %#.200v", d, gotJSON, gotMap, wantJSON, wantMap)
		}
	}
}

func BenchmarkNormalizeFlatDetail(b *testing.B) {
	d := map[string]any{"status": 200, "method": "GET", "path": "/api/v1/tickets/123", "via": "token", "token_id": int64(7)}
	for b.Loop() {
		if _, _, err := normalizeFlatDetail(d); err != nil {
			b.Fatal(err)
		}
	}
}

// A batch whose commit was ambiguous (the connection broke after COMMIT)
// is recognised by its last row's hash and time, with no index on hash
// (migration 015): found when stored, not found otherwise.
func TestHashStoredRecognisesACommittedBatch(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	l := New(db.pool)
	w := l.NewWriter()
	defer w.Close()
	e, err := w.Append(ctx, readEntry(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		hash []byte
		want bool
	}{
		{"the stored row", e.At, e.Hash, true},
		{"another time", e.At.Add(time.Microsecond), e.Hash, false},
		{"another hash", e.At, append([]byte{^e.Hash[0]}, e.Hash[1:]...), false},
		{"no hash", e.At, nil, false},
	} {
		got, err := l.hashStored(tc.at, tc.hash)
		if err != nil || got != tc.want {
			t.Errorf("%s: hashStored = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
