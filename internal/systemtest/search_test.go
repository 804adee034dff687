package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

type searchAnswer struct {
	Items      []ticket.Ticket `json:"items"`
	Total      int64           `json:"total"`
	NextOffset *int            `json:"next_offset"`
}

// searchNumbers runs GET /tickets/search?query as s (nil: the admin token)
// and returns the ticket numbers answered, sorted.
func searchNumbers(t *testing.T, s *session, query string) ([]int64, response) {
	t.Helper()
	var res response
	if s == nil {
		res = call(t, env.baseURL, http.MethodGet, "/api/v1/tickets/search?"+query, nil)
	} else {
		res = s.do(t, http.MethodGet, "/api/v1/tickets/search?"+query, "")
	}
	if res.status != http.StatusOK {
		return nil, res
	}
	var page searchAnswer
	res.decode(t, &page)
	var out []int64
	for _, tk := range page.Items {
		out = append(out, tk.Number)
	}
	slices.Sort(out)
	return out, res
}

// TestSearchByCustomFieldOfEveryType defines one field of each type, files
// three tickets with different values and filters on each field through
// GET /tickets/search, against the real Elasticsearch index: the mapping of
// each type must make its filter work (a keyword for options, a double for
// numbers, dates for dates and times, ...).
func TestSearchByCustomFieldOfEveryType(t *testing.T) {
	_, agents := staffTeam(t, "searcher", 2)
	cat := int64(postJSON(t, "/api/v1/categories", `{"name":"Search by fields"}`, 201)["id"].(float64))
	sub := int64(postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Sub","parent_id":%d}`, cat), 201)["id"].(float64))
	var osField int64
	for _, def := range []string{
		`{"key":"sf_serial","label":"Serial","type":"text"}`,
		`{"key":"sf_notes","label":"Notes","type":"long_text"}`,
		`{"key":"sf_seats","label":"Seats","type":"number"}`,
		`{"key":"sf_os","label":"OS","type":"dropdown","options":["linux",{"id":"mac","label":"macOS"},"windows"]}`,
		`{"key":"sf_modules","label":"Modules","type":"multi_choice","options":["billing","sso","reports"]}`,
		`{"key":"sf_urgent","label":"Urgent","type":"checkbox"}`,
		`{"key":"sf_due","label":"Due","type":"date"}`,
		`{"key":"sf_seen","label":"Last seen","type":"datetime"}`,
		`{"key":"sf_owner","label":"Owner","type":"user"}`,
	} {
		obj := postJSON(t, "/api/v1/custom-fields", strings.Replace(def, "{", fmt.Sprintf(`{"category_ids":[%d],`, cat), 1), 201)
		if obj["key"] == "sf_os" {
			osField = int64(obj["id"].(float64))
		}
	}
	values := []string{
		fmt.Sprintf(`{"sf_serial":"AB-100","sf_notes":"the printer on floor two jams daily","sf_seats":5,"sf_os":"linux",
			"sf_modules":["billing"],"sf_urgent":true,"sf_due":"2026-12-01","sf_seen":"2026-12-04T08:00:00Z","sf_owner":%d}`, agents[0]),
		fmt.Sprintf(`{"sf_serial":"AB-200","sf_notes":"scanner driver missing","sf_seats":50,"sf_os":"macOS",
			"sf_modules":["sso","reports"],"sf_urgent":false,"sf_due":"2026-12-15","sf_seen":"2026-12-04T23:30:00+01:00","sf_owner":%d}`, agents[1]),
		`{"sf_serial":"CD-300","sf_seats":500.5}`,
	}
	var n []int64
	for i, v := range values {
		c := cat
		if i == 2 {
			c = sub
		}
		res := createTicket(t, fmt.Sprintf(`{"subject":"search fields %d","category_id":%d,"custom_fields":%s}`, i, c, v))
		if res.status != http.StatusCreated {
			t.Fatalf("create %d: %d %s", i, res.status, res.body)
		}
		var tk ticket.Ticket
		res.decode(t, &tk)
		n = append(n, tk.Number)
	}
	in := fmt.Sprintf("category_id=%d&", cat)
	eventually(t, 20*time.Second, "three tickets searchable", func() error {
		_ = env.index.Refresh(context.Background())
		got, res := searchNumbers(t, nil, in+"limit=10")
		if len(got) != 3 {
			return fmt.Errorf("search answered %d %s", res.status, res.body)
		}
		return nil
	})
	ids := func(is ...int) []int64 {
		var out []int64
		for _, i := range is {
			out = append(out, n[i])
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		query string
		want  []int64
	}{
		{"cf.sf_serial=AB-200", ids(1)},
		{"cf.sf_serial.match=cd-300", ids(2)},
		{"cf.sf_notes=printer%20jams", ids(0)},
		{"cf.sf_notes.exists=false", ids(2)},
		{"cf.sf_seats=50", ids(1)},
		{"cf.sf_seats.gte=10", ids(1, 2)},
		{"cf.sf_seats.gte=5&cf.sf_seats.lte=50", ids(0, 1)},
		{"cf.sf_os=mac", ids(1)},
		{"cf.sf_os=Linux,windows", ids(0)},
		{"cf.sf_modules=reports", ids(1)},
		{"cf.sf_modules=billing,sso", ids(0, 1)},
		{"cf.sf_modules=sso&cf.sf_modules=billing", nil},
		{"cf.sf_urgent=true", ids(0)},
		{"cf.sf_urgent=false", ids(1)},
		{"cf.sf_due=2026-12-15", ids(1)},
		{"cf.sf_due.lte=2026-12-10", ids(0)},
		{"cf.sf_seen=2026-12-04", ids(0, 1)},
		{"cf.sf_seen.gte=2026-12-04T12:00:00Z", ids(1)},
		{"cf.sf_seen.lte=2026-12-03", nil},
		{fmt.Sprintf("cf.sf_owner=%d", agents[1]), ids(1)},
		{"cf.sf_owner.exists=true", ids(0, 1)},
		{"q=fields%201&cf.sf_os.exists=true", ids(1)},
		{"q=fields%202&cf.sf_os.exists=true", nil},
	} {
		got, res := searchNumbers(t, nil, in+c.query)
		if res.status != http.StatusOK || !slices.Equal(got, c.want) {
			t.Errorf("%s: %d %v, want %v (%s)", c.query, res.status, got, c.want, res.body)
		}
	}

	// Category filters include subcategories; the sub one alone has one.
	if got, _ := searchNumbers(t, nil, fmt.Sprintf("category_id=%d", sub)); !slices.Equal(got, ids(2)) {
		t.Errorf("sub category: %v", got)
	}
	// Bad filters are 422 naming the parameter, not an empty answer.
	for _, c := range []struct{ query, field string }{
		{"cf.sf_seats=many", "cf.sf_seats"},
		{"cf.sf_os=beos", "cf.sf_os"},
		{"cf.sf_urgent.gte=1", "cf.sf_urgent.gte"},
		{"cf.nope=1", "cf.nope"},
		{"limit=1000", "limit"},
	} {
		_, res := searchNumbers(t, nil, c.query)
		if got := strings.Join(problemFields(t, res), ","); res.status != 422 || got != c.field {
			t.Errorf("%s: %d %s, want 422 naming %s", c.query, res.status, res.body, c.field)
		}
	}
	// Pages: total counts all matches, next_offset walks them.
	res := call(t, env.baseURL, http.MethodGet, "/api/v1/tickets/search?"+in+"limit=2", nil)
	var page searchAnswer
	res.decode(t, &page)
	if page.Total != 3 || len(page.Items) != 2 || page.NextOffset == nil || *page.NextOffset != 2 ||
		page.Items[0].Number != n[2] || page.Items[0].CustomFields["sf_seats"] != 500.5 {
		t.Errorf("first page %s", res.body)
	}
	// Renaming an option's label keeps filters by id (and by the new label).
	if res := call(t, env.baseURL, "PATCH", fmt.Sprintf("/api/v1/custom-fields/%d", osField),
		[]byte(`{"options":[{"id":"mac","label":"Apple macOS"}]}`)); res.status != 200 {
		t.Fatalf("rename option: %d %s", res.status, res.body)
	}
	if got, _ := searchNumbers(t, nil, in+"cf.sf_os="+url.QueryEscape("Apple macOS")); !slices.Equal(got, ids(1)) {
		t.Errorf("by new label: %v", got)
	}
}

// TestSearchKeepsToTheCallersScope: a requester's search finds only the
// tickets they may see, whatever the filters say.
func TestSearchKeepsToTheCallersScope(t *testing.T) {
	req1 := login(t, "requester@example.com", testPassword)
	req2 := login(t, "requester2@example.com", testPassword)
	word := fmt.Sprintf("scopeword%d", time.Now().UnixNano())
	mine := createAs(t, req1, "printer "+word)
	theirs := createAs(t, req2, "printer "+word)
	eventually(t, 20*time.Second, "both searchable", func() error {
		_ = env.index.Refresh(context.Background())
		got, res := searchNumbers(t, nil, "q="+word)
		if len(got) != 2 {
			return fmt.Errorf("admin sees %v (%d %s)", got, res.status, res.body)
		}
		return nil
	})
	if got, res := searchNumbers(t, req1, "q="+word); !slices.Equal(got, []int64{mine}) {
		t.Errorf("requester sees %v (%s), want only %d (not %d)", got, res.body, mine, theirs)
	}
}

// TestSearchMapsFieldsMissedByTheIndex: an index that never heard of a field
// (created while Elasticsearch was away, or rebuilt) maps it on the first
// write of a value, so the value is searchable, not silently unmapped.
func TestSearchMapsFieldsMissedByTheIndex(t *testing.T) {
	postJSON(t, "/api/v1/custom-fields", `{"key":"heal_count","label":"Count","type":"number"}`, 201)
	ctx := context.Background()
	ix, err := search.New(env.cfg.ElasticsearchURL, fmt.Sprintf("tickets-heal-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.EnsureIndex(ctx); err != nil { // no field source yet: cf has no mappings
		t.Fatal(err)
	}
	ix.SetFieldSource(env.store.CustomFields)
	tk := ticket.Ticket{Number: 1, Subject: "heal", Status: ticket.StatusOpen, Priority: ticket.PriorityLow,
		CustomFields: map[string]any{"heal_count": 7.0}, CreatedAt: time.Now(), UpdatedAt: time.Now(), Seq: 1}
	if _, err := ix.IndexTicket(ctx, tk, store.SearchExtras{}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := ix.Search(ctx, search.Query{Fields: []search.FieldFilter{{Key: "heal_count", Type: catalog.TypeNumber, GTE: 5.0}}})
	if err != nil || len(res.Numbers) != 1 {
		t.Fatalf("range on the healed field: %+v, %v", res, err)
	}
}
