package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"
)

// ids lists the entries' ids, to compare pages.
func ids(es []Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestFindFiltersNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	l, _, clk := newLogAt(t, t0)
	add := func(minute int, actor, action, result string) int64 {
		clk.set(t0.Add(time.Duration(minute) * time.Minute))
		return mustAppend(t, l, Entry{Actor: actor, Action: action, Result: result}).ID
	}
	a := add(0, "ann", "auth.login", ResultAllowed)
	b := add(1, "bob", "ticket.read", ResultDenied)
	c := add(2, "ann", "ticket.update", ResultAllowed)
	d := add(3, "ann", "ticketing.read", ResultAllowed) // not under "ticket."
	e := add(4, "bob", "ticket_read", ResultError)      // _ is no LIKE wildcard here
	f := add(5, "ann", "ticket.read", ResultError)

	cases := []struct {
		name string
		q    Query
		want []int64
	}{
		{"all", Query{}, []int64{f, e, d, c, b, a}},
		{"actor", Query{Actor: "bob"}, []int64{e, b}},
		{"action exact", Query{Action: "ticket.read"}, []int64{f, b}},
		{"action prefix", Query{Action: "ticket.*"}, []int64{f, c, b}},
		{"action prefix is literal", Query{Action: "ticket_*"}, nil},
		{"result", Query{Result: ResultAllowed}, []int64{d, c, a}},
		{"combined", Query{Actor: "ann", Action: "ticket.*", Result: ResultAllowed}, []int64{c}},
		{"since", Query{Since: ptr(t0.Add(4 * time.Minute))}, []int64{f, e}},
		{"until", Query{Until: ptr(t0.Add(1 * time.Minute))}, []int64{a}},
		{"window", Query{Since: ptr(t0.Add(time.Minute)), Until: ptr(t0.Add(3 * time.Minute))}, []int64{c, b}},
		{"no match", Query{Actor: "nobody"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := l.Find(context.Background(), tc.q)
			if err != nil || next != "" || fmt.Sprint(ids(got)) != fmt.Sprint(tc.want) {
				t.Fatalf("find %+v = %v, next %q, err %v; want %v", tc.q, ids(got), next, err, tc.want)
			}
		})
	}
}

func TestFindPagesWithCursor(t *testing.T) {
	l, _, _ := newLogAt(t, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	var all []int64
	for i := range 7 {
		all = append([]int64{mustAppend(t, l, Entry{Actor: "ann", Action: "ticket.read", Object: fmt.Sprint(i), Result: ResultAllowed}).ID}, all...)
	}
	mustAppend(t, l, Entry{Actor: "bob", Action: "ticket.read", Result: ResultAllowed})

	var got []int64
	q := Query{Actor: "ann", Limit: 3}
	pages := 0
	for {
		page, next, err := l.Find(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) > 3 {
			t.Fatalf("page of %d entries, limit 3", len(page))
		}
		got = append(got, ids(page)...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("cursor does not advance")
		}
		q.Cursor = next
	}
	if pages != 3 || fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("paged %v in %d pages, want %v in 3", got, pages, all)
	}

	// A page that ends exactly at the last row has no next cursor.
	page, next, err := l.Find(context.Background(), Query{Actor: "ann", Limit: 7})
	if err != nil || len(page) != 7 || next != "" {
		t.Fatalf("full page: %d entries, next %q, err %v", len(page), next, err)
	}
}

func TestFindLimitsAndBadCursors(t *testing.T) {
	l, _, _ := newLogAt(t, time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	for i := range MaxFindLimit + 1 {
		mustAppend(t, l, Entry{Actor: "ann", Action: "ticket.read", Object: fmt.Sprint(i), Result: ResultAllowed})
	}
	ctx := context.Background()
	for _, tc := range []struct{ limit, want int }{{0, DefaultFindLimit}, {1, 1}, {MaxFindLimit, MaxFindLimit}} {
		got, next, err := l.Find(ctx, Query{Limit: tc.limit})
		if err != nil || len(got) != tc.want || next == "" {
			t.Errorf("limit %d: %d entries, next %q, err %v; want %d and a next page", tc.limit, len(got), next, err, tc.want)
		}
	}
	for _, limit := range []int{-1, MaxFindLimit + 1} {
		if _, _, err := l.Find(ctx, Query{Limit: limit}); !errors.Is(err, ErrInvalid) {
			t.Errorf("limit %d: err = %v, want ErrInvalid", limit, err)
		}
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, c := range []string{"not base64!", b64([]byte("42")), b64([]byte(cursorPrefix + "x")), b64([]byte(cursorPrefix + "-5")), b64([]byte(cursorPrefix + "0"))} {
		if _, _, err := l.Find(ctx, Query{Cursor: c}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: err = %v, want ErrBadCursor", c, err)
		}
	}
}
