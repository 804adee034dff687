package search

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/query"
)

func testEnv(staff bool) Env {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	return Env{
		Now: time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC), Loc: berlin, Me: 42, Staff: staff,
		Teams:      map[string]int64{"service desk": 3},
		Categories: map[string][]int64{"hardware": {4, 5}, "hardware / printers": {5}},
		Fields: map[string]catalog.Field{
			"asset": {Key: "asset", Type: catalog.TypeText},
			"seats": {Key: "seats", Type: catalog.TypeNumber},
			"os":    {Key: "os", Type: catalog.TypeDropdown, Options: []catalog.Option{{ID: "linux", Label: "Linux"}, {ID: "mac", Label: "macOS"}}},
			"since": {Key: "since", Type: catalog.TypeDateTime},
		},
	}
}

func compiled(t *testing.T, q string, env Env) (Clauses, []*query.Error) {
	t.Helper()
	parsed, err := query.Parse(q)
	if err != nil {
		t.Fatalf("parse %q: %v", q, err)
	}
	return Compile(parsed, env)
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCompileTerms checks the Elasticsearch clause of each kind of term:
// the document field it filters and how values, comparisons and dates in
// the caller's time zone become terms and ranges.
func TestCompileTerms(t *testing.T) {
	for _, c := range []struct{ q, want string }{
		{"status:open,pending", `{"terms":{"status":["open","pending"]}}`},
		{"priority:>=high", `{"terms":{"priority":["critical","high"]}}`},
		{"assignee:me", `{"term":{"assignee_id":42}}`},
		{"assignee:none", `{"bool":{"must_not":[{"exists":{"field":"assignee_id"}}]}}`},
		{"assignee:Ann@Corp.Example,me", `{"bool":{"minimum_should_match":1,"should":[{"term":{"assignee_id":42}},{"term":{"assignee_email":"ann@corp.example"}}]}}`},
		{"requester:Ann@Corp.Example", `{"term":{"requester_email":"ann@corp.example"}}`},
		{`team:"Service desk"`, `{"terms":{"team_id":[3]}}`},
		{"category:hardware", `{"terms":{"category_id":[4,5]}}`},
		{`category:"Hardware /  Printers"`, `{"terms":{"category_id":[5]}}`},
		{"tag:vip", `{"term":{"tags":"vip"}}`},
		{"channel:Email", `{"term":{"channel":"email"}}`},
		// Days are Berlin days (UTC+1 in December); ages count from now.
		{"created:2026-11-01", `{"range":{"created_at":{"gte":"2026-10-31T23:00:00Z","lt":"2026-11-01T23:00:00Z"}}}`},
		{"created:>2026-11-01", `{"range":{"created_at":{"gte":"2026-11-01T23:00:00Z"}}}`},
		{"updated:<7d", `{"range":{"updated_at":{"gte":"2026-12-01T10:00:00.000000001Z"}}}`},
		{"created:>7d", `{"range":{"created_at":{"lt":"2026-12-01T10:00:00Z"}}}`},
		{"due:<2h", `{"range":{"sla_due_at":{"lt":"2026-12-08T12:00:00Z"}}}`},
		{"escalated:true", `{"range":{"escalation_level":{"gt":0}}}`},
		{"escalated:false", `{"term":{"escalation_level":0}}`},
		{"cf.asset:LAP-1234", `{"term":{"cf.asset":"LAP-1234"}}`},
		{"cf.seats:>=10", `{"range":{"cf.seats":{"gte":10}}}`},
		{"cf.os:macos,linux", `{"bool":{"minimum_should_match":1,"should":[{"term":{"cf.os":"mac"}},{"term":{"cf.os":"linux"}}]}}`},
		{"cf.os:none", `{"bool":{"must_not":[{"exists":{"field":"cf.os"}}]}}`},
		{"cf.since:<2026-12-01", `{"range":{"cf.since":{"lt":"2026-11-30T23:00:00Z"}}}`},
	} {
		got, errs := compiled(t, c.q, testEnv(true))
		if len(errs) > 0 {
			t.Errorf("%q: %v", c.q, errs[0])
			continue
		}
		if len(got.Filter) != 1 || js(got.Filter[0]) != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.q, js(got.Filter), c.want)
		}
	}
}

func TestCompileBreachedCountsRunningDeadlinesPast(t *testing.T) {
	got, _ := compiled(t, "breached:true", testEnv(true))
	s := js(got.Filter)
	for _, want := range []string{`{"term":{"breached":true}}`, `"sla_due_at":{"lt":"2026-12-08T10:00:00Z"}`, `"status":["open","in_progress","pending"]`} {
		if !strings.Contains(s, want) {
			t.Errorf("breached:true = %s; lacks %s", s, want)
		}
	}
	got, _ = compiled(t, "breached:false", testEnv(true))
	if !strings.HasPrefix(js(got.Filter), `[{"bool":{"must_not":[{"bool":{"minimum_should_match":1,"should":[{"term":{"breached":true}}`) {
		t.Errorf("breached:false = %s", js(got.Filter))
	}
}

func TestCompileTextNegationAndHighlights(t *testing.T) {
	got, errs := compiled(t, `printer "paper jam" -tag:spam -"out of office"`, testEnv(true))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(got.Must) != 2 || len(got.Text) != 2 || len(got.MustNot) != 2 || len(got.Filter) != 0 {
		t.Fatalf("clauses %s", js(got))
	}
	if want := `{"multi_match":{"fields":["subject^3","description","public_text","internal_text"],"operator":"and","query":"printer"}}`; js(got.Must[0]) != want {
		t.Errorf("word: %s", js(got.Must[0]))
	}
	if !strings.Contains(js(got.Must[1]), `"type":"phrase"`) {
		t.Errorf("phrase: %s", js(got.Must[1]))
	}
	// Requesters never search internal notes.
	got, _ = compiled(t, "printer", testEnv(false))
	if strings.Contains(js(got), "internal_text") {
		t.Errorf("a requester's search reaches internal notes: %s", js(got))
	}
	if strings.Contains(strings.Join(HighlightFields(false), ","), "internal") {
		t.Error("requesters get internal highlights")
	}
}

// TestCompileRefuses: names that resolve to nothing and fields requesters
// may not use are errors at the term's position, naming the field.
func TestCompileRefuses(t *testing.T) {
	for _, c := range []struct {
		q     string
		staff bool
		pos   int
		want  string
	}{
		{`status:open team:"Nobody"`, true, 12, `team: no team is named "Nobody"`},
		{"category:garden", true, 0, `category: no category is named "garden"`},
		{"printer cf.nope:1", true, 8, `no custom field has the key "nope"`},
		{"cf.seats:many", true, 0, `cf.seats: "many" is not a number`},
		{"cf.os:windows", true, 0, `cf.os: "windows" is not one of the options`},
		{"assignee:me", false, 0, "assignee: requesters cannot search by assignee"},
		{"x -team:a", false, 2, "team: requesters cannot search by team"},
		{"tag:vip", false, 0, "tag: requesters cannot search by tag"},
	} {
		_, errs := compiled(t, c.q, testEnv(c.staff))
		if len(errs) != 1 || errs[0].Pos != c.pos || !strings.Contains(errs[0].Msg, c.want) {
			t.Errorf("%q: errors %+v; want one at %d with %q", c.q, errs, c.pos, c.want)
		}
	}
}

func TestRequestBodyPagesAndFacets(t *testing.T) {
	cl, _ := compiled(t, "printer status:open", testEnv(true))
	r := Request{Query: Query{Size: 10, Scope: map[string]any{"term": map[string]any{"requester_id": 9}}}, Clauses: cl,
		Sort: "-updated", After: []any{int64(1765000000000), int64(17)}, PIT: "pit1",
		Highlight: HighlightFields(true), Facets: StaffFacets}
	b := js(r.Body())
	for _, want := range []string{
		`"search_after":[1765000000000,17]`, `"pit":{"id":"pit1","keep_alive":"5m"}`,
		`"sort":[{"updated_at":"desc"},{"id":"desc"}]`, `{"term":{"requester_id":9}}`,
		`"highlight_query":{"bool":{"must":[{"multi_match"`, `"encoder":"html"`,
		`"assignee":{"terms":{"field":"assignee_id","missing":-1,"size":20}}`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("body lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(b, `"from"`) {
		t.Errorf("a search_after page also has from: %s", b)
	}
}
