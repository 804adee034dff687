package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// keyPaths lists every key of a JSON document, nested objects as
// "parent.key" and objects inside arrays as "parent[].key", sorted: a
// field added anywhere shows up and must be added to the expected lists
// below on purpose.
func keyPaths(t *testing.T, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				out = append(out, prefix+k)
				walk(prefix+k+".", c)
			}
		case []any:
			for _, c := range x {
				walk(strings.TrimSuffix(prefix, ".")+"[].", c)
			}
		}
	}
	walk("", v)
	sort.Strings(out)
	return slices.Compact(out)
}

// The field sets, by hand. Keep them in step with docs/api.md ("What
// requesters see"); ticket.ForRequester and its unit test hold the same
// decision for the Go types.
var (
	requesterTicketKeys = []string{"archived_at", "assigned", "category", "category_id", "channel", "closed_at", "created_at",
		"custom_fields", "custom_fields.rv_model", "description", "id", "linked_ticket", "priority", "requester_id",
		"resolved_at", "status", "subject", "updated_at"}
	staffTicketKeys = []string{"archived_at", "assignee", "assignee_id", "category", "category_id", "channel", "closed_at",
		"created_at", "custom_fields", "custom_fields.rv_model", "custom_fields.rv_note", "custom_fields.rv_risk", "description",
		"escalation_level", "expired_at", "first_responded_at", "first_response_due_at", "id", "linked_ticket", "priority",
		"reopen_count", "requester_id", "resolution_due_at", "resolved_at", "sla_due_at", "status", "subject", "tags",
		"team_id", "updated_at"}
)

// withSingle is the staff set of a single-ticket answer: it also names the
// status moves allowed.
func withSingle(keys []string) []string {
	out := append(slices.Clone(keys), "allowed_statuses")
	sort.Strings(out)
	return out
}

// inPage prefixes keys as keyPaths names them inside a page's items.
func inPage(keys []string, page ...string) []string {
	out := slices.Clone(page)
	for _, k := range keys {
		out = append(out, "items[]."+k)
	}
	sort.Strings(out)
	return out
}

func expectKeys(t *testing.T, what string, res response, want []string) {
	t.Helper()
	if res.status != http.StatusOK && res.status != http.StatusCreated {
		t.Fatalf("%s: %d %s", what, res.status, res.body)
	}
	if got := keyPaths(t, res.body); !slices.Equal(got, want) {
		t.Errorf("%s: keys\n got %v\nwant %v", what, got, want)
	}
}

// rvFixture is a ticket with something in every internal field: assigned
// to an agent of a team, tagged and prioritised by a rule, with SLA
// deadlines and a hidden custom field set by staff.
type rvFixture struct {
	number   int64
	category int64
	word     string // in the hidden text field only
	req      *session
}

var (
	rvOnce sync.Once
	rv     rvFixture
)

// requesterViewFixture makes the fixture once for the tests that share it
// (field keys are never reused, so there is one of each).
func requesterViewFixture(t *testing.T) rvFixture {
	t.Helper()
	rvOnce.Do(func() { rv = newRVFixture(t) })
	if rv.number == 0 {
		t.Fatal("the requester view fixture failed in an earlier test")
	}
	return rv
}

func newRVFixture(t *testing.T) rvFixture {
	t.Helper()
	stamp := time.Now().UnixNano()
	f := rvFixture{word: fmt.Sprintf("rvsecret%d", stamp), req: login(t, "requester@example.com", testPassword)}
	f.category = int64(postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Requester view %d"}`, stamp), 201)["id"].(float64))
	model := postJSON(t, "/api/v1/custom-fields", fmt.Sprintf(`{"key":"rv_model","label":"Model","type":"text","category_ids":[%d]}`, f.category), 201)
	if model["visible_to_requester"] != true {
		t.Errorf("a new field is hidden from requesters by default: %v", model)
	}
	for _, def := range []string{
		`{"key":"rv_risk","label":"Fraud risk","type":"number","visible_to_requester":false,"category_ids":[%d]}`,
		`{"key":"rv_note","label":"Internal note","type":"text","visible_to_requester":false,"category_ids":[%d]}`,
	} {
		if got := postJSON(t, "/api/v1/custom-fields", fmt.Sprintf(def, f.category), 201); got["visible_to_requester"] != false {
			t.Errorf("hidden field created visible: %v", got)
		}
	}
	createRule(t, fmt.Sprintf(`{"name":"RV secret escalation rule","kind":"priority","conditions":[{"field":"category","op":"under","value":%d}],
		"actions":{"priority":"critical","tags":["rv_vip"]}}`, f.category))

	res := f.req.do(t, "POST", "/api/v1/tickets", fmt.Sprintf(`{"subject":"Requester view %d","category_id":%d,"custom_fields":{"rv_model":"LX-1"}}`,
		stamp, f.category))
	expectKeys(t, "POST /tickets as the requester", res, requesterTicketKeys)
	var created struct {
		ID int64 `json:"id"`
	}
	res.decode(t, &created)
	f.number = created.ID
	res = call(t, env.baseURL, "PATCH", ticketURL(f.number), []byte(fmt.Sprintf(
		`{"assignee":"agent@example.com","team":"Support","custom_fields":{"rv_risk":7,"rv_note":%q}}`, f.word)))
	expectKeys(t, "PATCH as the admin", res, withSingle(staffTicketKeys))
	// A change touching only hidden fields must not show in the
	// requester's history at all.
	mustStatus(t, call(t, env.baseURL, "PATCH", ticketURL(f.number), []byte(`{"custom_fields":{"rv_risk":9}}`)), http.StatusOK, "hidden-only change")
	row := rowOf(t, f.number)
	if row.AssigneeID == nil || row.TeamID == nil || len(row.Tags) == 0 || row.SLADueAt == nil || row.CustomFields["rv_risk"] == nil {
		t.Fatalf("fixture lacks an internal value: %+v", row)
	}
	eventually(t, 20*time.Second, "the fixture indexed with its hidden values", func() error {
		_ = env.index.Refresh(context.Background())
		got, res := searchNumbers(t, nil, "cf.rv_risk=9&cf.rv_note="+url.QueryEscape(f.word))
		if !slices.Equal(got, []int64{f.number}) {
			return fmt.Errorf("admin search answered %v (%d %s)", got, res.status, res.body)
		}
		return nil
	})
	return f
}

// TestRequesterViewFieldSets: the exact keys, nested ones included, each
// role gets of one ticket through GET, list, search, history and the
// answers of writes; and no internal value anywhere in a requester's
// answers.
func TestRequesterViewFieldSets(t *testing.T) {
	f := requesterViewFixture(t)
	agent := login(t, "agent@example.com", testPassword)
	lead := login(t, "lead@example.com", testPassword)
	admin := login(t, "admin@example.com", testPassword)
	list := fmt.Sprintf("/api/v1/tickets?category_id=%d", f.category)
	search := fmt.Sprintf("/api/v1/tickets/search?category_id=%d&facets=false", f.category)

	requesterAnswers := []response{}
	for _, c := range []struct {
		who  string
		s    *session
		want []string
	}{
		{"requester", f.req, requesterTicketKeys},
		{"agent", agent, staffTicketKeys},
		{"lead", lead, staffTicketKeys},
		{"admin", admin, staffTicketKeys},
	} {
		single := c.want
		if c.who != "requester" {
			single = withSingle(c.want)
		}
		get := c.s.do(t, "GET", ticketURL(f.number), "")
		expectKeys(t, "GET as "+c.who, get, single)
		lst := c.s.do(t, "GET", list, "")
		expectKeys(t, "list as "+c.who, lst, inPage(c.want, "items", "next_cursor"))
		sr := c.s.do(t, "GET", search, "")
		expectKeys(t, "search as "+c.who, sr, inPage(c.want, "items", "items[].highlights", "next_cursor", "sort", "total"))
		if c.who == "requester" {
			requesterAnswers = append(requesterAnswers, get, lst, sr)
		}
	}

	// Writes answer with the same view: the requester's reply, then
	// closing and reopening.
	mustStatus(t, commentAs(t, f.req, f.number, `{"body":"any news?"}`), http.StatusCreated, "requester reply")
	mustStatus(t, patchAs(t, agent, f.number, `{"status":"resolved"}`), http.StatusOK, "resolve")
	reopen := f.req.do(t, "POST", ticketURL(f.number, "/reopen"), "")
	expectKeys(t, "reopen as the requester", reopen, requesterTicketKeys)
	expectKeys(t, "reopen again (already open) as the requester", f.req.do(t, "POST", ticketURL(f.number, "/reopen"), ""), requesterTicketKeys)
	requesterAnswers = append(requesterAnswers, reopen)

	// The requester's history: no routing, assignment, team, escalation
	// or SLA events, no rule names, no hidden field, staff by name.
	hist := f.req.do(t, "GET", ticketURL(f.number, "/history?limit=500"), "")
	mustStatus(t, hist, http.StatusOK, "requester history")
	requesterAnswers = append(requesterAnswers, hist)
	var page struct {
		Items []historyEntry `json:"items"`
	}
	hist.decode(t, &page)
	var kinds []string
	for _, h := range page.Items {
		kinds = append(kinds, h.Kind)
		if h.Kind == "fields_changed" {
			changes, _ := h.Data["changes"].(map[string]any)
			if _, ok := changes["rv_model"]; len(changes) != 1 || !ok {
				t.Errorf("requester sees field changes %v, want only rv_model", changes)
			}
		}
	}
	for _, hidden := range []string{"assigned", "team_changed", "routed", "escalated", "sla_breached", "policy_changed"} {
		if slices.Contains(kinds, hidden) {
			t.Errorf("requester history holds %s: %v", hidden, kinds)
		}
	}
	if !slices.Contains(kinds, "priority_changed") || !slices.Contains(kinds, "comment") {
		t.Errorf("requester history lacks the priority change or their comment: %v", kinds)
	}
	staffHist := historyAs(t, agent, f.number)
	if n := len(findKind(staffHist, "fields_changed")); n != 2 {
		t.Errorf("staff see %d field changes, want 2 (the fixture's)", n)
	}
	if lastOfKind(staffHist, "routed") == nil || lastOfKind(staffHist, "assigned") == nil {
		t.Errorf("staff history lacks routing or assignment: the requester test above could not fail")
	}
	var sawAgent bool
	for _, h := range page.Items {
		var a struct {
			ID    int64   `json:"id"`
			Email *string `json:"email"`
			Name  *string `json:"name"`
		}
		if json.Unmarshal(h.Actor, &a) != nil || a.ID != env.users["agent"].ID {
			continue
		}
		sawAgent = true
		if a.Email != nil || a.Name == nil || *a.Name != env.users["agent"].Name {
			t.Errorf("the agent shown to the requester as %s, want the name %q and no email", h.Actor, env.users["agent"].Name)
		}
	}
	if !sawAgent {
		t.Errorf("the agent's resolve is not in the requester's history: %v", kinds)
	}

	for _, res := range requesterAnswers {
		for _, secret := range []string{"agent@example.com", "rv_vip", "rv_risk", "rv_note", f.word, "RV secret escalation rule", `"team_id"`,
			"sla_due_at", "escalation"} {
			if strings.Contains(string(res.body), secret) {
				t.Errorf("a requester answer holds %q: %s", secret, res.body)
			}
		}
	}
}

// TestRequesterCannotInferHiddenFields is the attack: a requester who may
// not read the assignee, team, tags, SLA or a hidden field tries to learn
// them through filters, sort orders, full text and field definitions.
// Every probe is refused for the role (the same answer whatever the
// value), or a hidden field is exactly as unknown as one never defined.
func TestRequesterCannotInferHiddenFields(t *testing.T) {
	f := requesterViewFixture(t)
	agentID := env.users["agent"].ID
	in := fmt.Sprintf("category_id=%d&", f.category)

	refused := func(path, field string) {
		t.Helper()
		res := f.req.do(t, "GET", path, "")
		if res.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s, want 422", path, res.status, res.body)
			return
		}
		if got := problemFields(t, res); !slices.Contains(got, field) {
			t.Errorf("%s: problem names %v, want %s", path, got, field)
		}
	}
	const list, search = "/api/v1/tickets?", "/api/v1/tickets/search?"
	for _, q := range []struct{ route, query, field string }{
		{list, fmt.Sprintf("assignee=%d", agentID), "assignee"},
		{list, "assignee=none", "assignee"},
		{list, "assignee=me", "assignee"},
		{list, "team=none", "team"},
		{list, "team=1", "team"},
		{list, "sort=urgency", "sort"},
		{search, fmt.Sprintf("assignee=%d", agentID), "assignee"},
		{search, "assignee=none", "assignee"},
		{search, "team=1", "team"},
		{search, "tag=rv_vip", "tag"},
		{search, "tag=no_such_tag", "tag"},
		{search, "cf.rv_risk=9", "cf.rv_risk"},
		{search, "cf.rv_risk.gte=0", "cf.rv_risk.gte"},
		{search, "cf.rv_risk.exists=true", "cf.rv_risk.exists"},
		{search, "cf.rv_note.match=" + f.word, "cf.rv_note.match"},
	} {
		refused(q.route+in+q.query, q.field)
	}

	// A hidden field answers exactly as a field that never existed.
	probe := func(key string) string {
		res := f.req.do(t, "GET", "/api/v1/tickets/search?"+in+"cf."+key+"=1", "")
		var p problem
		res.decode(t, &p)
		if len(p.Errors) != 1 {
			t.Fatalf("probe %s: %s", key, res.body)
		}
		return strings.ReplaceAll(p.Errors[0].Detail, key, "KEY")
	}
	if hidden, none := probe("rv_risk"), probe("rv_never_defined"); hidden != none {
		t.Errorf("a hidden field answers %q, an unknown one %q: the difference tells it exists", hidden, none)
	}

	// Staff filter by the same: the requester's refusals are not because
	// the filters find nothing.
	for _, q := range []string{"cf.rv_risk=9", "tag=rv_vip", fmt.Sprintf("assignee=%d", agentID)} {
		if got, res := searchNumbers(t, nil, in+q); !slices.Equal(got, []int64{f.number}) {
			t.Errorf("admin search %s: %v (%d %s), want [%d]", q, got, res.status, res.body, f.number)
		}
	}

	// Full text covers subject and description only: the hidden text
	// value, on the requester's own ticket, finds nothing.
	if got, res := searchNumbers(t, f.req, "q="+f.word); res.status != http.StatusOK || len(got) != 0 {
		t.Errorf("requester full text on a hidden value: %v (%d %s)", got, res.status, res.body)
	}
	// Their own filters still work.
	if got, res := searchNumbers(t, f.req, in+"cf.rv_model=LX-1"); !slices.Equal(got, []int64{f.number}) {
		t.Errorf("requester search on a visible field: %v (%d %s)", got, res.status, res.body)
	}

	// Definitions: the requester is not told hidden fields exist, nor may
	// set one.
	var defs struct {
		Items []struct {
			Key string `json:"key"`
		} `json:"items"`
	}
	f.req.do(t, "GET", fmt.Sprintf("/api/v1/custom-fields?category_id=%d", f.category), "").decode(t, &defs)
	var keys []string
	for _, d := range defs.Items {
		keys = append(keys, d.Key)
	}
	if !slices.Equal(keys, []string{"rv_model"}) {
		t.Errorf("requester lists fields %v, want [rv_model]", keys)
	}
	res := f.req.do(t, "POST", "/api/v1/tickets", fmt.Sprintf(`{"subject":"sneaky","category_id":%d,"custom_fields":{"rv_risk":0}}`, f.category))
	if got := problemFields(t, res); res.status != http.StatusUnprocessableEntity || !slices.Equal(got, []string{"custom_fields.rv_risk"}) {
		t.Errorf("requester setting a hidden field: %d %s", res.status, res.body)
	}
	var p problem
	res.decode(t, &p)
	if p.Errors[0].Detail != "no such custom field" {
		t.Errorf("requester setting a hidden field is told %q, want the unknown-field answer", p.Errors[0].Detail)
	}

	// A field required on new tickets cannot be hidden: requesters could
	// not open tickets.
	res = call(t, env.baseURL, "POST", "/api/v1/custom-fields", []byte(`{"key":"rv_required_hidden","label":"X","type":"text","required":true,"visible_to_requester":false}`))
	if got := problemFields(t, res); res.status != http.StatusUnprocessableEntity || !slices.Equal(got, []string{"visible_to_requester"}) {
		t.Errorf("required hidden field: %d %s", res.status, res.body)
	}
}
