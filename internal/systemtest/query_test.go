package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// queryAnswer is GET /tickets/search with the query language.
type queryAnswer struct {
	Items []struct {
		ticket.Ticket
		Highlights map[string][]string `json:"highlights"`
	} `json:"items"`
	Total      int64   `json:"total"`
	NextCursor *string `json:"next_cursor"`
	Sort       string  `json:"sort"`
	Facets     map[string][]struct {
		Value string `json:"value"`
		ID    *int64 `json:"id"`
		Count int64  `json:"count"`
	} `json:"facets"`
}

// find runs GET /tickets/search?q=…&extra as s (nil: the admin token).
func find(t *testing.T, s *session, q, extra string) (queryAnswer, response) {
	t.Helper()
	path := "/api/v1/tickets/search?q=" + url.QueryEscape(q)
	if extra != "" {
		path += "&" + extra
	}
	var res response
	if s == nil {
		res = call(t, env.baseURL, http.MethodGet, path, nil)
	} else {
		res = s.do(t, http.MethodGet, path, "")
	}
	var a queryAnswer
	if res.status == http.StatusOK {
		res.decode(t, &a)
	}
	return a, res
}

func (a queryAnswer) numbers() []int64 {
	var out []int64
	for _, it := range a.Items {
		out = append(out, it.Number)
	}
	slices.Sort(out)
	return out
}

// TestSearchQueryLanguage files tickets and searches them with the query
// language on the real index: filters, comparisons, ages, negation,
// phrases, highlights, facets, and errors at their position.
func TestSearchQueryLanguage(t *testing.T) {
	w := fmt.Sprintf("qlword%d", time.Now().UnixNano())
	mk := func(subject, priority string) int64 {
		res := createTicket(t, fmt.Sprintf(`{"subject":%q,"description":"reported by the front desk","priority":%q}`, subject, priority))
		if res.status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.status, res.body)
		}
		var tk ticket.Ticket
		res.decode(t, &tk)
		return tk.Number
	}
	jam := mk(w+" printer paper jam on floor 2", "high")
	scan := mk(w+" scanner is slow", "low")
	crit := mk(w+" printer on fire", "critical")
	eventually(t, 20*time.Second, "three tickets searchable", func() error {
		_ = env.index.Refresh(context.Background())
		if a, res := find(t, nil, w, ""); a.Total != 3 {
			return fmt.Errorf("found %d (%d %s)", a.Total, res.status, res.body)
		}
		return nil
	})
	for _, c := range []struct {
		q    string
		want []int64
	}{
		{w + " status:open priority:>=high printer created:<7d", []int64{jam, crit}},
		{w + ` "paper jam"`, []int64{jam}},
		{w + ` -"paper jam"`, []int64{scan, crit}},
		{w + " -priority:low", []int64{jam, crit}},
		{w + " priority:low,critical", []int64{scan, crit}},
		{w + " priority:<high", []int64{scan}},
		{w + " created:>1d", nil},
		{w + " created:>=" + time.Now().UTC().Format(time.DateOnly), []int64{jam, scan, crit}},
		{w + " updated:<1h escalated:false breached:false", []int64{jam, scan, crit}},
		{w + " front desk", []int64{jam, scan, crit}},
		{w + " assignee:none channel:api", []int64{jam, scan, crit}},
		{w + " PRINTER Status:Open", []int64{jam, crit}}, // names and values in any case
	} {
		a, res := find(t, nil, c.q, "tz=UTC")
		if res.status != http.StatusOK || !slices.Equal(a.numbers(), c.want) {
			t.Errorf("%q: %d %v, want %v (%s)", c.q, res.status, a.numbers(), c.want, res.body)
		}
	}

	// Free text highlights in the subject; filters do not highlight.
	a, _ := find(t, nil, w+" printer status:open", "sort=created")
	if len(a.Items) != 2 || a.Items[0].Number != jam || a.Sort != "created" {
		t.Fatalf("sorted by created: %+v", a.numbers())
	}
	if got := strings.Join(a.Items[0].Highlights["subject"], ""); !strings.Contains(got, "<mark>printer</mark>") || strings.Contains(got, "<mark>open") {
		t.Errorf("highlights %v", a.Items[0].Highlights)
	}
	// Facets count the whole match, not the page.
	a, _ = find(t, nil, w, "limit=1")
	counts := map[string]int64{}
	for _, b := range a.Facets["priority"] {
		counts[b.Value] = b.Count
	}
	if len(a.Items) != 1 || a.Total != 3 || counts["high"] != 1 || counts["low"] != 1 || counts["critical"] != 1 {
		t.Errorf("facets %+v total %d", a.Facets, a.Total)
	}
	if none := a.Facets["assignee"]; len(none) != 1 || none[0].Value != "none" || none[0].Count != 3 {
		t.Errorf("assignee facet %+v", none)
	}

	// Errors are 422 naming q and the position of the bad term.
	for _, c := range []struct {
		q, extra string
		field    string
		pos      int
		detail   string
	}{
		{"stauts:open", "", "q", 0, `unknown field "stauts"`},
		{w + ` team:"No such team"`, "", "q", len(w) + 1, `no team is named "No such team"`},
		{w + " priority:>=urgent", "", "q", len(w) + 1, "priority"},
		{`"unclosed`, "", "q", 0, "quote"},
		{w, "tz=Mars/Olympus", "tz", -1, "unknown time zone"},
		{w, "sort=random", "sort", -1, "unknown sort"},
		{w, "cursor=bm90IGEgY3Vyc29y", "cursor", -1, "start again"},
	} {
		_, res := find(t, nil, c.q, c.extra)
		var pr struct {
			Errors []struct {
				Field    string `json:"field"`
				Detail   string `json:"detail"`
				Position *int   `json:"position"`
			} `json:"errors"`
		}
		_ = json.Unmarshal(res.body, &pr)
		if res.status != http.StatusUnprocessableEntity || len(pr.Errors) != 1 || pr.Errors[0].Field != c.field ||
			!strings.Contains(pr.Errors[0].Detail, c.detail) || (c.pos >= 0 && (pr.Errors[0].Position == nil || *pr.Errors[0].Position != c.pos)) {
			t.Errorf("%q %s: %d %s; want 422 on %s at %d with %q", c.q, c.extra, res.status, res.body, c.field, c.pos, c.detail)
		}
	}
}

// TestSearchCursorIsStableUnderWrites pages through a result sorted by
// last update while the tickets on it keep changing: every ticket is
// answered exactly once (the pages read one point in time).
func TestSearchCursorIsStableUnderWrites(t *testing.T) {
	w := fmt.Sprintf("pageword%d", time.Now().UnixNano())
	var want []int64
	for i := range 7 {
		res := createTicket(t, fmt.Sprintf(`{"subject":"%s page %d"}`, w, i))
		var tk ticket.Ticket
		res.decode(t, &tk)
		want = append(want, tk.Number)
	}
	slices.Sort(want)
	eventually(t, 20*time.Second, "tickets searchable", func() error {
		_ = env.index.Refresh(context.Background())
		if a, res := find(t, nil, w, ""); a.Total != int64(len(want)) {
			return fmt.Errorf("found %d (%d %s)", a.Total, res.status, res.body)
		}
		return nil
	})
	var seen []int64
	extra := "limit=2&sort=-updated"
	for page := 0; ; page++ {
		a, res := find(t, nil, w, extra)
		if res.status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, res.status, res.body)
		}
		for _, it := range a.Items {
			seen = append(seen, it.Number)
		}
		if a.NextCursor == nil {
			break
		}
		// Touch every ticket not yet seen: sorted by update, each would
		// now jump to the top, before the cursor, and be skipped.
		for _, n := range want {
			if !slices.Contains(seen, n) {
				mustStatus(t, call(t, env.baseURL, http.MethodPatch, ticketURL(n), []byte(`{"priority":"high"}`)), http.StatusOK, "touch")
			}
		}
		_ = env.index.Refresh(context.Background())
		extra = "limit=2&sort=-updated&cursor=" + url.QueryEscape(*a.NextCursor)
		if page > 10 {
			t.Fatal("paging does not end")
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, want) {
		t.Errorf("pages answered %v, want each of %v once", seen, want)
	}
	// A cursor belongs to its search.
	a, _ := find(t, nil, w, "limit=2")
	if _, res := find(t, nil, w+" priority:high", "cursor="+url.QueryEscape(*a.NextCursor)); res.status != http.StatusUnprocessableEntity {
		t.Errorf("a cursor of another search: %d %s", res.status, res.body)
	}
}

// TestSearchQueryKeepsToTheCallersScope: the query language cannot reach
// past the caller's scope or search by what requesters do not see.
func TestSearchQueryKeepsToTheCallersScope(t *testing.T) {
	req1 := login(t, "requester@example.com", testPassword)
	req2 := login(t, "requester2@example.com", testPassword)
	w := fmt.Sprintf("qscope%d", time.Now().UnixNano())
	mine := createAs(t, req1, w+" my printer")
	createAs(t, req2, w+" their printer")
	eventually(t, 20*time.Second, "both searchable", func() error {
		_ = env.index.Refresh(context.Background())
		if a, _ := find(t, nil, w, ""); a.Total != 2 {
			return fmt.Errorf("admin finds %d", a.Total)
		}
		return nil
	})
	a, res := find(t, req1, w+" printer", "")
	if res.status != http.StatusOK || !slices.Equal(a.numbers(), []int64{mine}) || a.Total != 1 {
		t.Errorf("requester finds %v total %d (%s), want only %d", a.numbers(), a.Total, res.body, mine)
	}
	if _, ok := a.Facets["assignee"]; ok {
		t.Errorf("requesters get the assignee facet: %v", a.Facets)
	}
	for _, q := range []string{"assignee:me", "team:none", "-tag:vip", "status:open assignee:none"} {
		if _, res := find(t, req1, q, ""); res.status != http.StatusUnprocessableEntity {
			t.Errorf("requester searching %q: %d %s", q, res.status, res.body)
		}
	}
}

// TestSearchFindsCommentsAndPeople: comments are searchable (internal
// notes by staff only, never highlighted for requesters), and tickets are
// found by their requester's and assignee's email.
func TestSearchFindsCommentsAndPeople(t *testing.T) {
	req1 := login(t, "requester@example.com", testPassword)
	w := fmt.Sprintf("qpeople%d", time.Now().UnixNano())
	n := createAs(t, req1, w+" vpn drops")
	other := createAs(t, login(t, "requester2@example.com", testPassword), w+" vpn slow")
	mustStatus(t, call(t, env.baseURL, http.MethodPost, ticketURL(n, "/comments"), []byte(`{"body":"please restart the router firmware"}`)), http.StatusCreated, "public comment")
	mustStatus(t, call(t, env.baseURL, http.MethodPost, ticketURL(n, "/comments"), []byte(`{"body":"suspect the zebracorn gateway","internal":true}`)), http.StatusCreated, "internal note")
	mustStatus(t, call(t, env.baseURL, http.MethodPatch, ticketURL(n), []byte(`{"assignee":"agent@example.com"}`)), http.StatusOK, "assign")
	eventually(t, 20*time.Second, "comments searchable", func() error {
		_ = env.index.Refresh(context.Background())
		if a, res := find(t, nil, w+" zebracorn", ""); a.Total != 1 {
			return fmt.Errorf("found %d (%d %s)", a.Total, res.status, res.body)
		}
		if a, _ := find(t, nil, w+" assignee:agent@example.com", ""); a.Total != 1 {
			return fmt.Errorf("assignee not indexed yet")
		}
		return nil
	})
	for _, c := range []struct {
		s    *session
		q    string
		want []int64
	}{
		{nil, w + " firmware", []int64{n}},
		{nil, w + " zebracorn", []int64{n}},
		{nil, w + " requester:REQUESTER@example.com", []int64{n}},
		{nil, w + " requester:requester2@example.com", []int64{other}},
		{nil, w + " assignee:Agent@Example.com", []int64{n}},
		{nil, w + " -assignee:none", []int64{n}},
		{req1, w + " firmware", []int64{n}},
		{req1, w + " zebracorn", nil}, // internal notes are not searched for requesters
	} {
		a, res := find(t, c.s, c.q, "")
		if res.status != http.StatusOK || !slices.Equal(a.numbers(), c.want) {
			t.Errorf("%q: %d %v, want %v (%s)", c.q, res.status, a.numbers(), c.want, res.body)
		}
	}
	a, _ := find(t, nil, w+" zebracorn firmware", "")
	if len(a.Items) != 1 || !strings.Contains(strings.Join(a.Items[0].Highlights["internal_text"], ""), "<mark>zebracorn</mark>") ||
		!strings.Contains(strings.Join(a.Items[0].Highlights["public_text"], ""), "<mark>firmware</mark>") {
		t.Errorf("staff highlights %+v", a.Items)
	}
	a, _ = find(t, req1, w+" firmware", "")
	if len(a.Items) != 1 || a.Items[0].Highlights["internal_text"] != nil || !strings.Contains(strings.Join(a.Items[0].Highlights["public_text"], ""), "<mark>firmware</mark>") {
		t.Errorf("requester highlights %+v", a.Items)
	}
}

// TestSearchQueryScopeOfTeamsAndOrganizations: an agent finds their
// teams' tickets and not another team's, whatever the query asks; a
// requester in an organization that shares tickets finds its members'
// tickets, and one in a private organization only their own.
func TestSearchQueryScopeOfTeamsAndOrganizations(t *testing.T) {
	ctx := context.Background()
	w := fmt.Sprintf("qteams%d", time.Now().UnixNano())
	shared, err := env.ident.CreateOrganization(ctx, "Shared "+w, true)
	if err != nil {
		t.Fatal(err)
	}
	private, err := env.ident.CreateOrganization(ctx, "Private "+w, false)
	if err != nil {
		t.Fatal(err)
	}
	people := map[string]*session{}
	for _, p := range []struct {
		key string
		org int64
	}{{"s1", shared.ID}, {"s2", shared.ID}, {"p1", private.ID}, {"p2", private.ID}} {
		email := p.key + "-" + w + "@example.com"
		org := p.org
		if _, err := env.ident.CreateUser(ctx, identity.NewUser{Email: email, Name: p.key, Role: identity.RoleRequester,
			Password: testPassword, OrganizationID: &org}); err != nil {
			t.Fatal(err)
		}
		people[p.key] = login(t, email, testPassword)
	}
	mine := map[string]int64{}
	for k, s := range people {
		mine[k] = createAs(t, s, w+" printer of "+k)
	}
	support := createTicket(t, fmt.Sprintf(`{"subject":"%s support printer"}`, w))
	finance := createTicket(t, fmt.Sprintf(`{"subject":"%s finance printer"}`, w))
	var sup, fin ticket.Ticket
	support.decode(t, &sup)
	finance.decode(t, &fin)
	mustStatus(t, call(t, env.baseURL, http.MethodPatch, ticketURL(sup.Number), []byte(`{"team":"Support"}`)), http.StatusOK, "route to Support")
	mustStatus(t, call(t, env.baseURL, http.MethodPatch, ticketURL(fin.Number), []byte(`{"team":"Finance"}`)), http.StatusOK, "route to Finance")
	eventually(t, 20*time.Second, "searchable", func() error {
		_ = env.index.Refresh(context.Background())
		if a, _ := find(t, nil, w+` team:Finance`, ""); a.Total != 1 {
			return fmt.Errorf("finance ticket not indexed with its team yet")
		}
		return nil
	})
	sorted := func(ns ...int64) []int64 { slices.Sort(ns); return ns }
	agent := login(t, "agent@example.com", testPassword)
	agent2 := login(t, "agent2@example.com", testPassword)
	for _, c := range []struct {
		who  string
		s    *session
		q    string
		want []int64
	}{
		{"agent (Support)", agent, w + " printer -team:none", []int64{sup.Number}},
		{"agent (Support)", agent, w + " team:Finance", nil},
		{"agent2 (Finance)", agent2, w + " printer -team:none", []int64{fin.Number}},
		{"shared requester", people["s1"], w + " printer", sorted(mine["s1"], mine["s2"])},
		{"private requester", people["p1"], w + " printer", []int64{mine["p1"]}},
		{"private requester", people["p1"], w + " printer requester:s2-" + w + "@example.com", nil},
	} {
		a, res := find(t, c.s, c.q, "")
		if res.status != http.StatusOK || !slices.Equal(a.numbers(), c.want) || a.Total != int64(len(c.want)) {
			t.Errorf("%s searching %q: %d %v (total %d), want %v (%s)", c.who, c.q, res.status, a.numbers(), a.Total, c.want, res.body)
		}
	}
}
