package query

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Kind is what a field's values are.
type Kind int

// The kinds of fields.
const (
	KindKeyword  Kind = iota // exact values (names, emails, ids, "me")
	KindStatus               // a status name
	KindPriority             // a priority name, ordered (low < … < critical)
	KindDate                 // an instant: absolute date or an age
	KindBool                 // true or false
	KindCustom               // cf.<key>: typed by the field's definition
)

// Field describes one field of the language.
type Field struct {
	Name string
	Kind Kind
	Help string
}

// Fields is the vocabulary, in the order suggestions show it.
var Fields = []Field{
	{"status", KindStatus, "open, in_progress, pending, resolved, closed"},
	{"priority", KindPriority, "low, medium, high, critical; with <, <=, >, >="},
	{"assignee", KindKeyword, `an agent's email, "me", or "none"`},
	{"team", KindKeyword, `a team's name or "none"`},
	{"category", KindKeyword, "a category's name (its subcategories too)"},
	{"requester", KindKeyword, "the requester's email"},
	{"tag", KindKeyword, "a tag"},
	{"channel", KindKeyword, "api, web or email"},
	{"created", KindDate, "a date (2026-11-01) or an age (7d: less than 7 days old with <)"},
	{"updated", KindDate, "a date or an age"},
	{"due", KindDate, "the SLA deadline: a date, or a time from now (<2h: due within 2 hours)"},
	{"escalated", KindBool, "true or false"},
	{"breached", KindBool, "true or false: an SLA deadline has passed"},
}

// Sorts are the orders a search (and a saved view) may ask for; "-" is
// newest first. relevance ranks free text matches; urgency is the work
// queue's order.
var Sorts = []string{"relevance", "urgency", "created", "-created", "updated", "-updated"}

// cfKey is a custom field key as the catalog allows it.
var cfKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Lookup returns the field named name ("cf.<key>" is any custom field).
func Lookup(name string) (Field, bool) {
	if key, ok := strings.CutPrefix(name, "cf."); ok {
		return Field{Name: name, Kind: KindCustom}, cfKey.MatchString(key)
	}
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

func fieldNames() string {
	names := make([]string, 0, len(Fields)+1)
	for _, f := range Fields {
		names = append(names, f.Name)
	}
	return strings.Join(append(names, "cf.<key>"), ", ")
}

// check validates a parsed term against the vocabulary.
func check(t *Term) error {
	if t.Field == "" {
		return nil
	}
	f, ok := Lookup(t.Field)
	if !ok {
		return &Error{Pos: t.Pos, Field: t.Field, Msg: fmt.Sprintf("unknown field %q; fields are %s", t.Field, fieldNames())}
	}
	fail := func(format string, args ...any) error {
		return &Error{Pos: t.Pos, Field: t.Field, Msg: t.Field + ": " + fmt.Sprintf(format, args...)}
	}
	ordered := f.Kind == KindPriority || f.Kind == KindDate || f.Kind == KindCustom
	if t.Op != OpIs && !ordered {
		return fail("%s cannot be compared with %s; use %s:value", t.Field, t.Op, t.Field)
	}
	if t.Op != OpIs && len(t.Values) > 1 {
		return fail("a comparison takes one value, not %d", len(t.Values))
	}
	for i, v := range t.Values {
		switch f.Kind {
		case KindStatus:
			st, err := ticket.ParseStatus(strings.ToLower(v))
			if err != nil {
				return fail("%v", err)
			}
			t.Values[i] = string(st)
		case KindPriority:
			pr, err := ticket.ParsePriority(strings.ToLower(v))
			if err != nil {
				return fail("%v", err)
			}
			t.Values[i] = string(pr)
		case KindBool:
			switch strings.ToLower(v) {
			case "true", "yes":
				t.Values[i] = "true"
			case "false", "no":
				t.Values[i] = "false"
			default:
				return fail("want true or false, got %q", v)
			}
		case KindDate:
			d, err := parseDate(v)
			if err != nil {
				return fail("%v", err)
			}
			if d.age > 0 && t.Op == OpIs {
				return fail("an age needs < or > (%s:<%s: %s)", t.Field, v, ageHelp(t.Field, v))
			}
		}
	}
	return nil
}

// date is a parsed date value: an age, a day, or an instant.
type date struct {
	age     time.Duration // > 0: an age or a time from now
	day     string        // YYYY-MM-DD: a calendar day in the caller's zone
	instant time.Time     // an RFC 3339 instant
}

var ageRE = regexp.MustCompile(`^(\d{1,5})([mhdw])$`)

func parseDate(v string) (date, error) {
	if m := ageRE.FindStringSubmatch(strings.ToLower(v)); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n == 0 {
			return date{}, fmt.Errorf("an age of zero (%q) is no age", v)
		}
		unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
		return date{age: time.Duration(n) * unit}, nil
	}
	if _, err := time.Parse(time.DateOnly, v); err == nil {
		return date{day: v}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return date{instant: t}, nil
	}
	return date{}, fmt.Errorf("%q is not a date (2026-11-01, 2026-11-01T09:00:00Z) or an age (30m, 2h, 7d, 2w)", v)
}

// Range is an interval of instants: From inclusive, To exclusive; a zero
// end is open.
type Range struct {
	From, To time.Time
}

// DateRange turns a date term into the instants it means, at now in loc
// (the caller's time zone: a day starts at local midnight).
//
// An age counts back from now for created and updated ("created:<7d":
// less than 7 days old, "created:>7d": older) and forward for due
// ("due:<2h": due within the next 2 hours, overdue included). A day is
// that local day: "created:2026-11-01" within it, ">" after it, ">=" from
// its start, "<" before it, "<=" up to its end.
func (t Term) DateRange(now time.Time, loc *time.Location) (Range, error) {
	if f, ok := Lookup(t.Field); !ok || f.Kind != KindDate || len(t.Values) != 1 {
		return Range{}, fmt.Errorf("query: %s is not one date", t.Field)
	}
	d, err := parseDate(t.Values[0])
	if err != nil {
		return Range{}, err
	}
	switch {
	case d.age > 0 && t.Field == "due":
		at := now.Add(d.age)
		return cmpRange(t.Op, at, at), nil
	case d.age > 0:
		// Older than the age is before now-age: the comparison flips.
		at := now.Add(-d.age)
		flip := map[Op]Op{OpLT: OpGT, OpLE: OpGE, OpGT: OpLT, OpGE: OpLE}[t.Op]
		return cmpRange(flip, at, at), nil
	default:
		return d.rangeIn(t.Op, loc), nil
	}
}

// InstantRange is the range of instants x with "x op v" for v a day in
// loc or an RFC 3339 instant (not an age): how a date-time custom field
// compares, by the same rule as created and updated.
func InstantRange(op Op, v string, loc *time.Location) (Range, error) {
	d, err := parseDate(v)
	if err != nil || d.age > 0 {
		return Range{}, fmt.Errorf("must be a date (2026-12-04) or an RFC 3339 time (2026-12-04T09:30:00Z)")
	}
	return d.rangeIn(op, loc), nil
}

// rangeIn is the range of a day (in loc) or an instant compared with op.
func (d date) rangeIn(op Op, loc *time.Location) Range {
	if d.day != "" {
		start, _ := time.ParseInLocation(time.DateOnly, d.day, loc)
		return cmpRange(op, start, start.AddDate(0, 0, 1))
	}
	return cmpRange(op, d.instant, d.instant)
}

func ageHelp(field, v string) string {
	if field == "due" {
		return "due within " + v
	}
	return "less than " + v + " old"
}

// cmpRange is the range of instants x with x op [start, end): for an
// instant start == end.
func cmpRange(op Op, start, end time.Time) Range {
	switch op {
	case OpLT:
		return Range{To: start}
	case OpLE:
		if start.Equal(end) {
			return Range{To: end.Add(time.Nanosecond)}
		}
		return Range{To: end}
	case OpGT:
		if start.Equal(end) {
			return Range{From: end.Add(time.Nanosecond)}
		}
		return Range{From: end}
	case OpGE:
		return Range{From: start}
	}
	if start.Equal(end) {
		return Range{From: start, To: start.Add(time.Nanosecond)}
	}
	return Range{From: start, To: end}
}

// Priorities lists the priorities a priority term admits, most urgent
// first ("priority:>=high" → critical, high).
func (t Term) Priorities() []ticket.Priority {
	all := ticket.Priorities() // most urgent first
	rank := func(p ticket.Priority) int { return slices.Index(all, p) }
	var out []ticket.Priority
	for _, p := range all {
		for _, v := range t.Values {
			want := rank(ticket.Priority(v))
			r := rank(p)
			ok := false
			switch t.Op {
			case OpIs:
				ok = r == want
			case OpGE: // at least as urgent
				ok = r <= want
			case OpGT:
				ok = r < want
			case OpLE:
				ok = r >= want
			case OpLT:
				ok = r > want
			}
			if ok && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
