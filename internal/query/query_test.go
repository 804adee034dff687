package query

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Term
	}{
		{"", nil},
		{"   ", nil},
		{"printer", []Term{{Pos: 0, Op: OpIs, Values: []string{"printer"}}}},
		{`"paper jam"`, []Term{{Pos: 0, Op: OpIs, Values: []string{"paper jam"}, Phrase: true}}},
		{"status:open,pending", []Term{{Field: "status", Op: OpIs, Values: []string{"open", "pending"}}}},
		{"Status:OPEN", []Term{{Field: "status", Op: OpIs, Values: []string{"open"}}}},
		{"priority:>=high", []Term{{Field: "priority", Op: OpGE, Values: []string{"high"}}}},
		{`team:"Service desk"`, []Term{{Field: "team", Op: OpIs, Values: []string{"Service desk"}}}},
		{`team:"Ops, night",Support`, []Term{{Field: "team", Op: OpIs, Values: []string{"Ops, night", "Support"}}}},
		{`cf.asset:"LAP-1234"`, []Term{{Field: "cf.asset", Op: OpIs, Values: []string{"LAP-1234"}}}},
		{"-tag:spam", []Term{{Negated: true, Field: "tag", Op: OpIs, Values: []string{"spam"}}}},
		{`-"out of office"`, []Term{{Negated: true, Op: OpIs, Values: []string{"out of office"}, Phrase: true}}},
		{"- printer", []Term{{Op: OpIs, Values: []string{"-"}}, {Pos: 2, Op: OpIs, Values: []string{"printer"}}}},
		{"created:<7d due:<2h escalated:yes", []Term{
			{Field: "created", Op: OpLT, Values: []string{"7d"}},
			{Pos: 12, Field: "due", Op: OpLT, Values: []string{"2h"}},
			{Pos: 20, Field: "escalated", Op: OpIs, Values: []string{"true"}}}},
		{`"say \"hi\" \\ back"`, []Term{{Op: OpIs, Values: []string{`say "hi" \ back`}, Phrase: true}}},
		{"drucker  Größe", []Term{{Op: OpIs, Values: []string{"drucker"}}, {Pos: 9, Op: OpIs, Values: []string{"Größe"}}}},
		{"updated:>=2026-11-01T09:00:00Z", []Term{{Field: "updated", Op: OpGE, Values: []string{"2026-11-01T09:00:00Z"}}}},
	} {
		q, err := Parse(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(q.Terms, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, q.Terms, c.want)
		}
	}
}

// TestParseErrors: what a person sees for a query that does not parse —
// the position of the problem and what is wrong, naming the field.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		in    string
		pos   int
		field string
		msg   string
	}{
		{"stauts:open", 0, "stauts", `unknown field "stauts"`},
		{"printer colour:red", 8, "colour", "unknown field"},
		{"status:", 7, "status", "a value is missing"},
		{"status:open,", 12, "status", "a value is missing"},
		{"status:opne", 0, "status", `unknown status "opne"`},
		{"status:>open", 0, "status", "cannot be compared with >"},
		{"priority:>=high,low", 0, "priority", "one value"},
		{"escalated:maybe", 0, "escalated", "want true or false"},
		{"created:yesterday", 0, "created", "is not a date"},
		{"created:7d", 0, "created", "an age needs < or >"},
		{"created:<0d", 0, "created", "an age of zero"},
		{`team:"Service desk`, 5, "", "a quote is not closed"},
		{`"paper jam`, 0, "", "a quote is not closed"},
		{`pa"per"`, 2, "", "a quote inside a word"},
		{`team:"A"B`, 8, "", "separate terms with a space"},
		{`""`, 0, "", "an empty phrase"},
		{":open", 0, "", "without a field name"},
		{"cf.Bad-Key:1", 0, "cf.bad-key", "unknown field"},
		{"\xff", 0, "", "not valid UTF-8"},
		{strings.Repeat("a ", MaxTerms) + "b", 2 * MaxTerms, "", "at most 64 terms"},
		{"tag:" + strings.Repeat("x,", MaxValues) + "y", 4 + 2*MaxValues, "tag", "at most 32 alternatives"},
		{strings.Repeat("a", MaxLength+1), MaxLength, "", "longer than"},
	} {
		_, err := Parse(c.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: got %v, want a query error", c.in, err)
			continue
		}
		if e.Pos != c.pos || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%q: got pos %d field %q %q; want pos %d field %q containing %q", c.in, e.Pos, e.Field, e.Msg, c.pos, c.field, c.msg)
		}
	}
}

func TestStringRoundTrips(t *testing.T) {
	for _, in := range []string{
		`status:open,pending priority:>=high assignee:me team:"Service desk" category:hardware`,
		`created:>2026-11-01 updated:<7d due:<2h escalated:true breached:false requester:ann@corp.example`,
		`cf.asset:"LAP-1234" -tag:spam printer "paper jam" -"out of office" cf.note:"a \"b\" c"`,
		`team:"x,y",z cf.t:"<5"`,
	} {
		q, err := Parse(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		again, err := Parse(q.String())
		if err != nil {
			t.Fatalf("%q → %q: %v", in, q.String(), err)
		}
		if !sameTerms(q, again) {
			t.Errorf("%q → %q → %+v", in, q.String(), again.Terms)
		}
	}
}

func sameTerms(a, b Query) bool {
	if len(a.Terms) != len(b.Terms) {
		return false
	}
	for i := range a.Terms {
		x, y := a.Terms[i], b.Terms[i]
		x.Pos, y.Pos = 0, 0
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// TestDateRange: what "created:<7d", "due:<2h" and a day mean, in the
// caller's time zone.
func TestDateRange(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 22, 30, 0, 0, time.UTC) // 23:30 in Berlin
	dayStart := time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)
	for _, c := range []struct {
		in   string
		want Range
	}{
		{"created:<7d", Range{From: now.Add(-7*24*time.Hour + time.Nanosecond)}},
		{"created:>7d", Range{To: now.Add(-7 * 24 * time.Hour)}},
		{"updated:<=2h", Range{From: now.Add(-2 * time.Hour)}},
		{"due:<2h", Range{To: now.Add(2 * time.Hour)}},
		{"due:>1w", Range{From: now.Add(7*24*time.Hour + time.Nanosecond)}},
		{"created:2026-11-01", Range{From: dayStart, To: dayStart.AddDate(0, 0, 1)}},
		{"created:>2026-11-01", Range{From: dayStart.AddDate(0, 0, 1)}},
		{"created:>=2026-11-01", Range{From: dayStart}},
		{"created:<2026-11-01", Range{To: dayStart}},
		{"created:<=2026-11-01", Range{To: dayStart.AddDate(0, 0, 1)}},
		{"updated:>2026-11-01T09:00:00Z", Range{From: time.Date(2026, 11, 1, 9, 0, 0, 1, time.UTC)}},
	} {
		q, err := Parse(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		got, err := q.Terms[0].DateRange(now, berlin)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if !got.From.Equal(c.want.From) || !got.To.Equal(c.want.To) {
			t.Errorf("%q: [%v, %v), want [%v, %v)", c.in, got.From, got.To, c.want.From, c.want.To)
		}
	}
}

func TestPriorities(t *testing.T) {
	for in, want := range map[string][]ticket.Priority{
		"priority:>=high":       {ticket.PriorityCritical, ticket.PriorityHigh},
		"priority:>high":        {ticket.PriorityCritical},
		"priority:<=medium":     {ticket.PriorityMedium, ticket.PriorityLow},
		"priority:<medium":      {ticket.PriorityLow},
		"priority:low,critical": {ticket.PriorityCritical, ticket.PriorityLow},
	} {
		q, err := Parse(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := q.Terms[0].Priorities(); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

// FuzzParse: any input parses or fails with a query error at a position
// inside it, never panics, and what parses prints back to the same terms.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`status:open,pending priority:>=high team:"Service desk" -tag:spam "paper jam"`,
		`created:<7d due:<2h cf.asset:"LAP-1234" \"`, `-`, `a:"\\\"`, "\xff", `x:<=,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos < 0 || e.Pos > len(s) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		again, err := Parse(q.String())
		if err != nil || !sameTerms(q, again) {
			t.Fatalf("%q → %q → %+v, %v", s, q.String(), again.Terms, err)
		}
	})
}
