package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func TestExportWritesPeriodOnceInBothFormats(t *testing.T) {
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	l, db, clk := newLogAt(t, day.Add(-time.Microsecond))
	ctx := context.Background()
	add := func(at time.Time, e Entry) Entry {
		clk.set(at)
		return mustAppend(t, l, e)
	}
	add(day.Add(-time.Microsecond), Entry{Actor: "before", Action: "auth.login", Result: ResultAllowed})
	var in []Entry
	in = append(in, add(day, Entry{ActorID: ptr(int64(3)), Actor: "ann@example.test", Action: "auth.login", Result: ResultAllowed, IP: "192.0.2.1",
		UserAgent: "=cmd|' /C calc'!A0, \"quoted\"\nline", Detail: map[string]any{"n": 1.5, "s": "x,y"}}))
	in = append(in, add(day.Add(12*time.Hour), Entry{Actor: "anonymous", Action: "ticket.read", Object: "ticket:1", Result: ResultDenied}))
	in = append(in, add(day.Add(24*time.Hour-time.Microsecond), Entry{Actor: "system", Action: "audit.export", Result: ResultError}))
	add(day.Add(24*time.Hour), Entry{Actor: "after", Action: "auth.login", Result: ResultAllowed})

	dir := t.TempDir()
	files, err := l.Export(ctx, day, day.Add(24*time.Hour), dir)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "audit-20261126T000000Z-20261127T000000Z")
	last := in[len(in)-1].Hash
	want := []ExportFile{
		{Format: FormatCSV, Path: base + ".csv", Rows: 3, LastHash: last},
		{Format: FormatNDJSON, Path: base + ".ndjson", Rows: 3, LastHash: last},
	}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("export = %+v\nwant %+v", files, want)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	// NDJSON: the rows exactly, and enough to re-check their hashes
	// without the database.
	f, err := os.Open(want[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ndjson line %q: %v", sc.Text(), err)
		}
		canon, err := Canonical(e)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(append(append([]byte{}, e.PrevHash...), canon...)); !bytes.Equal(sum[:], e.Hash) {
			t.Errorf("ndjson row %d does not hash to its hash", e.ID)
		}
		got = append(got, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("ndjson rows =\n%+v\nwant\n%+v", got, in)
	}

	// CSV: a header, then one record per row with the same values.
	raw, err := os.ReadFile(want[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1+len(in) || !reflect.DeepEqual(records[0], csvHeader) {
		t.Fatalf("csv has %d records, header %v", len(records), records[0])
	}
	for i, e := range in {
		r := records[i+1]
		actorID := ""
		if e.ActorID != nil {
			actorID = strconv.FormatInt(*e.ActorID, 10)
		}
		detail, _ := appendValue(nil, e.Detail)
		wantRec := []string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339Nano), actorID, e.Actor, e.Action, e.Object, e.Result,
			e.IP, e.UserAgent, e.RequestID, string(detail), hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash)}
		if !reflect.DeepEqual(r, wantRec) {
			t.Errorf("csv record %d = %q\nwant %q", i+1, r, wantRec)
		}
	}

	// A retry of the period returns what was recorded and writes nothing.
	for _, f := range want {
		if err := os.WriteFile(f.Path, []byte("kept"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	clk.set(day.Add(13 * time.Hour))
	mustAppend(t, l, Entry{Actor: "late", Action: "auth.login", Result: ResultAllowed})
	again, err := l.Export(ctx, day, day.Add(24*time.Hour), dir)
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("re-export = %+v, %v; want %+v", again, err, want)
	}
	for _, f := range want {
		if b, _ := os.ReadFile(f.Path); string(b) != "kept" {
			t.Errorf("re-export rewrote %s", f.Path)
		}
	}
	var recorded int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM audit_exports`).Scan(&recorded); err != nil || recorded != 2 {
		t.Fatalf("audit_exports has %d rows (%v), want 2", recorded, err)
	}

	// The same start with another end is a different period.
	if _, err := l.Export(ctx, day, day.Add(time.Hour), dir); !errors.Is(err, ErrExportConflict) {
		t.Fatalf("export of an overlapping period: err = %v, want ErrExportConflict", err)
	}
}

func TestExportOfAnEmptyPeriod(t *testing.T) {
	l, _, _ := newLogAt(t, time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC))
	mustAppend(t, l, Entry{Actor: "ann", Action: "auth.login", Result: ResultAllowed})
	from := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "nested", "exports")
	files, err := l.Export(context.Background(), from, from.Add(24*time.Hour), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Rows != 0 || f.LastHash != nil {
			t.Errorf("%s: %d rows, last hash %x; want none", f.Format, f.Rows, f.LastHash)
		}
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		wantContent := ""
		if f.Format == FormatCSV {
			wantContent = "id,at,actor_id,actor,action,object,result,ip,user_agent,request_id,detail,prev_hash,hash\n"
		}
		if string(b) != wantContent {
			t.Errorf("%s content = %q, want %q", f.Format, b, wantContent)
		}
	}
	if _, err := l.Export(context.Background(), from, from, dir); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty period: err = %v, want ErrInvalid", err)
	}
}
