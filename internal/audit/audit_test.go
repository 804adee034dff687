package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func ptr[T any](v T) *T { return &v }

func mustAppend(t testing.TB, l *Log, e Entry) Entry {
	t.Helper()
	got, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatalf("append %+v: %v", e, err)
	}
	return got
}

func mustVerify(t testing.TB, l *Log) VerifyResult {
	t.Helper()
	res, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

func TestAppendChainsRowsAndReadsThemBackUnchanged(t *testing.T) {
	l := New(newDB(t).pool)
	ctx := context.Background()
	in := []Entry{
		{ActorID: ptr(int64(7)), Actor: "ann@example.test", Action: "auth.login", Result: ResultAllowed, IP: "192.0.2.1", UserAgent: "curl/8", RequestID: "r1"},
		{Actor: "anonymous", Action: "ticket.read", Object: "ticket:42", Result: ResultDenied,
			// Values whose JSON PostgreSQL's jsonb would spell differently
			// from Go, and strings text columns cannot hold.
			Detail: map[string]any{
				"big": int64(9007199254740993), "float": 1.5, "exp": 1e21, "tiny": 1e-7, "neg0": json.Number("-0.0"),
				"nested": map[string]any{"z": []any{true, nil, "x"}, "a": "<&>"}, "nul": "a\x00b",
			},
			UserAgent: "bad\xffutf8"},
		{Actor: "system", Action: "audit.export", Result: ResultError, Detail: map[string]any{}},
	}
	var appended []Entry
	prev := make([]byte, sha256.Size)
	for _, e := range in {
		before := time.Now().UTC().Truncate(time.Microsecond)
		got := mustAppend(t, l, e)
		if got.ID == 0 || got.At.Before(before) || got.At.Location() != time.UTC || got.At.Nanosecond()%1000 != 0 {
			t.Fatalf("appended %+v: want an id and a UTC time in microseconds after %v", got, before)
		}
		if !bytes.Equal(got.PrevHash, prev) {
			t.Fatalf("row %d prev_hash %x, want previous hash %x", got.ID, got.PrevHash, prev)
		}
		canon, err := Canonical(got)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(append(append([]byte{}, prev...), canon...)); !bytes.Equal(got.Hash, sum[:]) {
			t.Fatalf("row %d hash %x, want SHA-256(prev || canonical) %x", got.ID, got.Hash, sum)
		}
		prev = got.Hash
		appended = append(appended, got)
	}
	if got := appended[1].UserAgent; got != "bad\uFFFDutf8" {
		t.Errorf("user agent stored as %q, want invalid UTF-8 replaced", got)
	}
	wantDetail := map[string]any{
		"big": json.Number("9007199254740993"), "float": json.Number("1.5"), "exp": json.Number("1000000000000000000000"),
		"tiny": json.Number("0.0000001"), "neg0": json.Number("0"),
		"nested": map[string]any{"z": []any{true, nil, "x"}, "a": "<&>"}, "nul": "a\uFFFDb",
	}
	if !reflect.DeepEqual(appended[1].Detail, wantDetail) {
		t.Errorf("detail = %#v\nwant %#v", appended[1].Detail, wantDetail)
	}

	found, next, err := l.Find(ctx, Query{})
	if err != nil || next != "" || len(found) != len(in) {
		t.Fatalf("find: %d entries, next %q, err %v", len(found), next, err)
	}
	for i, e := range found {
		if want := appended[len(appended)-1-i]; !reflect.DeepEqual(e, want) {
			t.Errorf("read back %+v\nappended   %+v", e, want)
		}
	}
	if res := mustVerify(t, l); res != (VerifyResult{Rows: 3, OK: true}) {
		t.Fatalf("verify = %+v", res)
	}
}

func TestAppendRejectsInvalidEntries(t *testing.T) {
	l := New(newDB(t).pool)
	for _, e := range []Entry{
		{Actor: "a", Action: "x", Result: "maybe"},
		{Actor: "", Action: "x", Result: ResultAllowed},
		{Actor: "a", Action: "", Result: ResultAllowed},
		{Actor: "a", Action: "x", Result: ResultAllowed, Detail: map[string]any{"ch": make(chan int)}},
		{Actor: "a", Action: "x", Result: ResultAllowed, Detail: map[string]any{"n": json.Number("1e9999999")}},
	} {
		if _, err := l.Append(context.Background(), e); !errors.Is(err, ErrInvalid) {
			t.Errorf("append %+v: err = %v, want ErrInvalid", e, err)
		}
	}
	if res := mustVerify(t, l); res != (VerifyResult{Rows: 0, OK: true}) {
		t.Fatalf("verify = %+v, want an empty valid chain", res)
	}
}

func TestConcurrentAppendsKeepOneValidChain(t *testing.T) {
	l := New(newDB(t).pool)
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := l.Append(context.Background(), Entry{Actor: fmt.Sprintf("worker%d", w), Action: "ticket.read", Object: fmt.Sprintf("ticket:%d", i), Result: ResultAllowed})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if res := mustVerify(t, l); res != (VerifyResult{Rows: workers * each, OK: true}) {
		t.Fatalf("verify = %+v", res)
	}
}

func TestVerifyFindsTheFirstTamperedRow(t *testing.T) {
	// sqlOn runs SQL as the superuser with the 3rd row's id as $1.
	sqlOn := func(sql string) func(testing.TB, testDB, []Entry) {
		return func(t testing.TB, db testDB, rows []Entry) { db.admin(t, sql, rows[2].ID) }
	}
	cases := []struct {
		name   string
		tamper func(testing.TB, testDB, []Entry)
		badRow int // index of the row Verify must name
		reason string
	}{
		{"edited actor", sqlOn(`UPDATE audit_log SET actor = 'mallory' WHERE id = $1`), 2, "content hashes to"},
		{"edited detail", sqlOn(`UPDATE audit_log SET detail = '{"amount": 2}' WHERE id = $1`), 2, "content hashes to"},
		{"edited time", sqlOn(`UPDATE audit_log SET at = at - interval '1 hour' WHERE id = $1`), 2, "content hashes to"},
		{"removed row", sqlOn(`DELETE FROM audit_log WHERE id = $1`), 3, "is not the previous row's"},
		{"removed last rows", sqlOn(`DELETE FROM audit_log WHERE id > $1`), 4, "chain head names row"},
		{"edited row with its hash recomputed", func(t testing.TB, db testDB, rows []Entry) {
			e := rows[2]
			e.Actor = "mallory"
			canon, err := Canonical(e)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(append(append([]byte{}, e.PrevHash...), canon...))
			db.admin(t, `UPDATE audit_log SET actor = $2, hash = $3 WHERE id = $1`, e.ID, e.Actor, sum[:])
		}, 3, "is not the previous row's"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			l := New(db.pool)
			var rows []Entry
			for i := range 5 {
				rows = append(rows, mustAppend(t, l, Entry{Actor: "ann@example.test", Action: "ticket.update", Object: fmt.Sprintf("ticket:%d", i), Result: ResultAllowed, Detail: map[string]any{"amount": 1}}))
			}
			if res := mustVerify(t, l); !res.OK {
				t.Fatalf("before tampering: %+v", res)
			}
			tc.tamper(t, db, rows)
			res := mustVerify(t, l)
			if res.OK || res.FirstBadID != rows[tc.badRow].ID || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("verify = %+v, want first bad id %d (%q)", res, rows[tc.badRow].ID, tc.reason)
			}
			// The report names the row's time as it is stored now, or none
			// when the row is gone.
			var at time.Time
			err := db.pool.QueryRow(context.Background(), `SELECT at FROM audit_log WHERE id = $1`, res.FirstBadID).Scan(&at)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				t.Fatal(err)
			}
			if !res.FirstBadAt.Equal(at) {
				t.Errorf("first bad row's time %v, want %v (the stored row's)", res.FirstBadAt, at)
			}
			if s := res.String(); !strings.Contains(s, fmt.Sprintf("first bad row %d ", res.FirstBadID)) || !strings.Contains(s, tc.reason) {
				t.Errorf("report %q does not name row %d and why", s, res.FirstBadID)
			}
		})
	}
}

func TestAppRoleCannotRewriteHistory(t *testing.T) {
	db := newDB(t)
	l := New(db.pool)
	e := mustAppend(t, l, Entry{Actor: "ann@example.test", Action: "auth.login", Result: ResultAllowed})
	for _, sql := range []string{
		`UPDATE audit_log SET actor = 'mallory' WHERE id = $1`,
		`DELETE FROM audit_log WHERE id = $1`,
		`TRUNCATE audit_log`,
	} {
		args := []any{e.ID}
		if strings.HasPrefix(sql, "TRUNCATE") {
			args = nil
		}
		_, err := db.pool.Exec(context.Background(), sql, args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "permission denied") {
			t.Errorf("%s as the app role: err = %v, want permission denied (42501)", sql, err)
		}
	}
	if res := mustVerify(t, l); res != (VerifyResult{Rows: 1, OK: true}) {
		t.Fatalf("verify = %+v", res)
	}
}

func TestEntryJSONIsSnakeCaseWithHexHashes(t *testing.T) {
	e := Entry{ID: 3, At: time.Date(2026, 11, 27, 0, 0, 3, 123000, time.UTC), ActorID: ptr(int64(9)), Actor: "ann", Action: "auth.login",
		Result: ResultAllowed, UserAgent: "ua", RequestID: "r", Detail: map[string]any{"n": json.Number("9007199254740993")},
		PrevHash: []byte{0xab, 0x01}, Hash: []byte{0xff}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":3,"at":"2026-11-27T00:00:03.000123Z","actor_id":9,"actor":"ann","action":"auth.login","object":"","result":"allowed","ip":"","user_agent":"ua","request_id":"r","detail":{"n":9007199254740993},"prev_hash":"ab01","hash":"ff"}`
	if string(b) != want {
		t.Fatalf("json = %s\nwant   %s", b, want)
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip = %+v, want %+v", back, e)
	}
}

// BenchmarkAppend measures one request's audit row: one round trip that
// waits for the chain head lock and the commit's WAL flush.
func BenchmarkAppend(b *testing.B) {
	l := New(newDB(b).pool)
	e := Entry{ActorID: ptr(int64(7)), Actor: "ann@example.test", Action: "ticket.read", Object: "ticket:42", Result: ResultAllowed,
		IP: "192.0.2.1", UserAgent: "Mozilla/5.0", RequestID: "01HZX", Detail: map[string]any{"status": 200, "route": "/api/tickets/:id"}}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.Append(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8) // 8 x GOMAXPROCS concurrent requests
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Append(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
