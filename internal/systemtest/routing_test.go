package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

// staffTeam creates a team of n new agents (named after prefix) and returns
// the team and the agents' ids in creation order.
func staffTeam(t *testing.T, prefix string, n int) (identity.Team, []int64) {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for i := 0; i < n; i++ {
		u, err := env.ident.CreateUser(ctx, identity.NewUser{Email: fmt.Sprintf("%s-%d@example.com", prefix, i),
			Name: fmt.Sprintf("%s %d", prefix, i), Role: identity.RoleAgent, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	team, err := env.ident.CreateTeam(ctx, prefix+" desk", nil, ids)
	if err != nil {
		t.Fatal(err)
	}
	return team, ids
}

func createRule(t *testing.T, body string) int64 {
	t.Helper()
	res := call(t, env.baseURL, http.MethodPost, "/api/v1/rules", []byte(body))
	if res.status != http.StatusCreated {
		t.Fatalf("create rule: %d %s", res.status, res.body)
	}
	var r struct {
		ID int64 `json:"id"`
	}
	res.decode(t, &r)
	t.Cleanup(func() { call(t, env.baseURL, http.MethodDelete, fmt.Sprintf("/api/v1/rules/%d", r.ID), nil) })
	return r.ID
}

// An admin defines a priority rule and an assignment rule; a new ticket
// they match gets the rule's priority and lands with the least-loaded
// available agent of the right team, with the reason in its history. An
// agent's own priority then sticks, and marking the agent away with
// reroute moves the ticket to a colleague.
func TestRoutingThroughTheAPI(t *testing.T) {
	team, agents := staffTeam(t, "hardware", 3)
	// agents[0] already has a ticket; agents[2] is away: least-loaded must
	// pick agents[1].
	busy := createTicket(t, fmt.Sprintf(`{"subject":"earlier work","assignee":%d,"team":%d}`, agents[0], team.ID))
	if busy.status != http.StatusCreated {
		t.Fatalf("create: %d %s", busy.status, busy.body)
	}
	if res := call(t, env.baseURL, "PATCH", fmt.Sprintf("/api/v1/agents/%d", agents[2]), []byte(`{"available":false}`)); res.status != http.StatusOK {
		t.Fatalf("away: %d %s", res.status, res.body)
	}

	// Problems name their place.
	res := call(t, env.baseURL, http.MethodPost, "/api/v1/rules", []byte(`{"name":"bad","kind":"assignment",
		"conditions":[{"field":"keywords","op":"any","value":"not a list"}],"actions":{"team_id":999999}}`))
	var pr problem
	res.decode(t, &pr)
	fields := map[string]bool{}
	for _, e := range pr.Errors {
		fields[e.Field] = true
	}
	if res.status != http.StatusUnprocessableEntity || !fields["conditions[0].value"] || !fields["actions.team_id"] {
		t.Fatalf("bad rule: %d %s", res.status, res.body)
	}

	pri := createRule(t, `{"name":"Plotters are urgent","kind":"priority","position":1,
		"conditions":[{"field":"keywords","op":"any","value":["plotter"]}],"actions":{"priority":"high","tags":["hardware"]}}`)
	asg := createRule(t, fmt.Sprintf(`{"name":"Plotters to the hardware desk","kind":"assignment","position":2,
		"conditions":[{"field":"keywords","op":"any","value":["plotter"]}],"actions":{"team_id":%d,"strategy":"least_loaded"}}`, team.ID))

	res = createTicket(t, `{"subject":"The plotter jams","description":"third floor"}`)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	if tk.Priority != ticket.PriorityHigh || tk.TeamID == nil || *tk.TeamID != team.ID || tk.AssigneeID == nil || *tk.AssigneeID != agents[1] {
		t.Fatalf("created ticket: priority %s team %v assignee %v, want high, team %d, agent %d", tk.Priority, tk.TeamID, tk.AssigneeID, team.ID, agents[1])
	}
	if strings.Join(tk.Tags, ",") != "hardware" {
		t.Errorf("tags %v, want [hardware]", tk.Tags)
	}
	hist := historyOf(t, tk.Number)
	routed := findKind(hist, "routed")
	if len(routed) != 1 {
		t.Fatalf("history %+v", hist)
	}
	reason, _ := routed[0].Data["reason"].(string)
	for _, want := range []string{fmt.Sprintf(`rule "Plotters to the hardware desk" (#%d)`, asg), "strategy least-loaded",
		fmt.Sprintf("agent %d (0 of no limit open)", agents[1]), fmt.Sprintf(`priority high by rule "Plotters are urgent" (#%d)`, pri)} {
		if !strings.Contains(reason, want) {
			t.Errorf("routing reason %q lacks %q", reason, want)
		}
	}
	if e := findKind(hist, "priority_changed"); len(e) != 1 || e[0].Data["reason"] != fmt.Sprintf(`priority high by rule "Plotters are urgent" (#%d)`, pri) {
		t.Errorf("priority_changed events %+v, want one naming the priority rule", e)
	}
	for _, kind := range []string{"team_changed", "assigned"} {
		if e := findKind(hist, kind); len(e) != 1 || e[0].Data["reason"] != reason {
			t.Errorf("%s events %+v, want one carrying the routing reason", kind, e)
		}
	}
	// Requesters do not see how tickets are routed.
	req := login(t, "requester@example.com", testPassword)
	mine := req.do(t, "POST", "/api/v1/tickets", `{"subject":"my plotter is broken"}`)
	var own ticket.Ticket
	mine.decode(t, &own)
	rh := req.do(t, "GET", ticketURL(own.Number, "/history"), "")
	if strings.Contains(string(rh.body), `"routed"`) {
		t.Errorf("requester sees routing: %s", rh.body)
	}

	// A priority an agent sets is kept: the priority rule matches again
	// after the change but does not undo it.
	res = call(t, env.baseURL, "PATCH", ticketURL(tk.Number), []byte(`{"priority":"low"}`))
	res.decode(t, &tk)
	if res.status != http.StatusOK || tk.Priority != ticket.PriorityLow || tk.AssigneeID == nil || *tk.AssigneeID != agents[1] {
		t.Fatalf("after the agent's priority: %d %s", res.status, res.body)
	}

	// The agent goes away and their tickets move to the colleague who is
	// still available.
	res = call(t, env.baseURL, "PATCH", fmt.Sprintf("/api/v1/agents/%d", agents[1]), []byte(`{"available":false,"reroute":true}`))
	var ag struct {
		Available bool `json:"available"`
		Rerouted  int  `json:"rerouted"`
	}
	res.decode(t, &ag)
	if res.status != http.StatusOK || ag.Available || ag.Rerouted != 1 {
		t.Fatalf("reroute: %d %s", res.status, res.body)
	}
	tk = getTicket(t, tk.Number)
	if tk.AssigneeID == nil || *tk.AssigneeID != agents[0] {
		t.Fatalf("after reroute assignee %v, want %d", tk.AssigneeID, agents[0])
	}
	if tk.Priority != ticket.PriorityLow {
		t.Errorf("reroute changed the agent's priority to %s", tk.Priority)
	}
	// Routed at creation, after a person's change and on reroute.
	recordHistory(t, workflows.TicketWorkflowID(tk.Number), "ticket-routed.json")
	// An agent may set only their own availability.
	agent := login(t, "agent@example.com", testPassword)
	if res := agent.do(t, "PATCH", fmt.Sprintf("/api/v1/agents/%d", agents[0]), `{"available":false}`); res.status != http.StatusForbidden {
		t.Errorf("agent changed a colleague: %d %s", res.status, res.body)
	}
	if res := agent.do(t, "PATCH", fmt.Sprintf("/api/v1/agents/%d", env.users["agent"].ID), `{"available":true}`); res.status != http.StatusOK {
		t.Errorf("agent set own availability: %d %s", res.status, res.body)
	}
}

func historyOf(t *testing.T, n int64) []historyEntry {
	t.Helper()
	res := call(t, env.baseURL, "GET", ticketURL(n, "/history"), nil)
	var page struct {
		Items []historyEntry `json:"items"`
	}
	res.decode(t, &page)
	return page.Items
}

func findKind(h []historyEntry, kind string) []historyEntry {
	var out []historyEntry
	for _, e := range h {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func getTicket(t *testing.T, n int64) ticket.Ticket {
	t.Helper()
	res := call(t, env.baseURL, "GET", ticketURL(n), nil)
	if res.status != http.StatusOK {
		t.Fatalf("get %d: %d %s", n, res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	return tk
}

// fakeTickets inserts open tickets whose subject carries word, numbered
// from first, straight into PostgreSQL (routing reads only the row), and
// removes them when the test ends.
func fakeTickets(t *testing.T, first int64, n int, word string) {
	t.Helper()
	ctx := context.Background()
	pool := env.store.Pool()
	if _, err := pool.Exec(ctx, `INSERT INTO tickets (number, subject, status, priority, created_at, updated_at, last_seq)
		SELECT g, 'routing ' || $3 || ' ' || g, 'open', 'medium', now(), now(), 1 FROM generate_series($1::bigint, $1::bigint + $2 - 1) g`,
		first, n, word); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(ctx, `DELETE FROM routing_decisions WHERE ticket_number BETWEEN $1 AND $1 + $2`, first, n)
		pool.Exec(ctx, `DELETE FROM tickets WHERE number BETWEEN $1 AND $1 + $2`, first, n)
	})
}

// routeAll runs one decision per ticket through the real decision path
// (store.Route, the transaction the workflow's activity runs) from 16
// goroutines over two connection pools, as two worker processes would.
func routeAll(t *testing.T, first int64, n int) []store.Decision {
	t.Helper()
	ctx := context.Background()
	second, err := store.Open(ctx, env.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	out := make([]store.Decision, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	for g := 0; g < 16; g++ {
		st := env.store
		if g%2 == 1 {
			st = second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				num := first + int64(i)
				d, err := st.Route(ctx, store.RouteRequest{Number: num, Key: fmt.Sprintf("%d:created:1", num),
					Trigger: store.RouteCreated, Priority: ticket.PriorityMedium})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[i] = d
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return out
}

func loadsOf(t *testing.T, agents []int64) map[int64]int {
	t.Helper()
	rows, err := env.store.Pool().Query(context.Background(), `SELECT assignee_id, count(*) FROM tickets
		WHERE assignee_id = ANY($1) AND status = 'open' GROUP BY assignee_id`, agents)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	return out
}

// 10,000 decisions against the real decision path: round-robin spreads
// within one ticket between agents, least-loaded never exceeds the cap,
// and a repeated decision assigns nothing twice.
func TestRoutingFairnessTenThousandDecisions(t *testing.T) {
	ctx := context.Background()
	rrTeam, rrAgents := staffTeam(t, "fair-rr", 7)
	llTeam, llAgents := staffTeam(t, "fair-ll", 4)
	for _, id := range llAgents {
		capN := 900
		if err := env.store.UpdateAgent(ctx, id, store.AgentUpdate{Capacity: &struct{ N *int }{N: &capN}}); err != nil {
			t.Fatal(err)
		}
	}
	createRule(t, fmt.Sprintf(`{"name":"fair round robin","kind":"assignment","conditions":[{"field":"keywords","op":"any","value":["rrfair"]}],
		"actions":{"team_id":%d,"strategy":"round_robin"}}`, rrTeam.ID))
	createRule(t, fmt.Sprintf(`{"name":"fair least loaded","kind":"assignment","conditions":[{"field":"keywords","op":"any","value":["llfair"]}],
		"actions":{"team_id":%d,"strategy":"least_loaded"}}`, llTeam.ID))

	const rrFirst, llFirst, n = 8_000_000, 8_100_000, 5000
	fakeTickets(t, rrFirst, n, "rrfair")
	fakeTickets(t, llFirst, n, "llfair")

	routeAll(t, rrFirst, n)
	rr := loadsOf(t, rrAgents)
	lo, hi := n, 0
	for _, id := range rrAgents {
		lo, hi = min(lo, rr[id]), max(hi, rr[id])
	}
	if hi-lo > 1 || sum(rr) != n {
		t.Errorf("round-robin spread %v (min %d, max %d, total %d), want within one ticket and all %d assigned", rr, lo, hi, sum(rr), n)
	}

	ds := routeAll(t, llFirst, n)
	ll := loadsOf(t, llAgents)
	for _, id := range llAgents {
		if ll[id] != 900 {
			t.Errorf("least-loaded agent %d holds %d, want exactly the cap 900 (%v)", id, ll[id], ll)
		}
	}
	waiting := 0
	for _, d := range ds {
		if d.AssigneeID == nil {
			waiting++
			if !strings.Contains(d.Reason, "4 at capacity") {
				t.Fatalf("unassigned decision's reason %q does not name the capacity", d.Reason)
			}
		}
	}
	if waiting != n-4*900 {
		t.Errorf("%d tickets waiting, want %d", waiting, n-4*900)
	}

	// The same decision again (a retried activity) answers the same and
	// assigns nothing more.
	again, err := env.store.Route(ctx, store.RouteRequest{Number: rrFirst, Key: fmt.Sprintf("%d:created:1", rrFirst),
		Trigger: store.RouteCreated, Priority: ticket.PriorityMedium})
	if err != nil {
		t.Fatal(err)
	}
	firstJSON, _ := json.Marshal(again)
	if after := loadsOf(t, rrAgents); sum(after) != n || again.AssigneeID == nil {
		t.Errorf("repeat decision %s changed the loads: %v", firstJSON, after)
	}
}

func sum(m map[int64]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func postJSON(t *testing.T, path, body string, want int) map[string]any {
	t.Helper()
	res := call(t, env.baseURL, http.MethodPost, path, []byte(body))
	if res.status != want {
		t.Fatalf("POST %s %s: %d %s, want %d", path, body, res.status, res.body, want)
	}
	var out map[string]any
	res.decode(t, &out)
	return out
}

func problemFields(t *testing.T, res response) []string {
	t.Helper()
	var pr problem
	res.decode(t, &pr)
	var out []string
	for _, e := range pr.Errors {
		out = append(out, e.Field)
	}
	return out
}

// The acceptance path: an admin defines a category tree, two
// custom fields for one category, a priority rule and an assignment rule;
// a new ticket in a subcategory gets the rule's priority and lands with
// the least-loaded available agent of the right team, with the reason in
// its history. Along the way: field validation names the field, archived
// categories and cycles are refused, lists include subcategories, and
// resolving needs the fields required for it.
func TestCategoriesFieldsAndRouting(t *testing.T) {
	team, agents := staffTeam(t, "printing", 2)
	busy := createTicket(t, fmt.Sprintf(`{"subject":"earlier","assignee":%d,"team":%d}`, agents[0], team.ID))
	if busy.status != http.StatusCreated {
		t.Fatalf("create: %d %s", busy.status, busy.body)
	}
	hw := int64(postJSON(t, "/api/v1/categories", `{"name":"Hardware AT"}`, 201)["id"].(float64))
	printers := int64(postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Printers","parent_id":%d}`, hw), 201)["id"].(float64))
	laser := postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Laser","parent_id":%d}`, printers), 201)
	if laser["path"] != "Hardware AT / Printers / Laser" {
		t.Errorf("path %v", laser["path"])
	}
	laserID := int64(laser["id"].(float64))
	old := int64(postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Fax","parent_id":%d}`, hw), 201)["id"].(float64))
	if res := call(t, env.baseURL, "PATCH", fmt.Sprintf("/api/v1/categories/%d", old), []byte(`{"archived":true}`)); res.status != 200 {
		t.Fatalf("archive: %d %s", res.status, res.body)
	}
	if res := call(t, env.baseURL, "PATCH", fmt.Sprintf("/api/v1/categories/%d", hw), []byte(fmt.Sprintf(`{"parent_id":%d}`, laserID))); res.status != 422 || strings.Join(problemFields(t, res), ",") != "parent_id" {
		t.Errorf("cycle: %d %s", res.status, res.body)
	}

	postJSON(t, "/api/v1/custom-fields", fmt.Sprintf(`{"key":"printer_model_at","label":"Printer model","type":"dropdown",
		"options":["laserjet",{"id":"inkjet","label":"InkJet"}],"required":true,"category_ids":[%d]}`, printers), 201)
	postJSON(t, "/api/v1/custom-fields", fmt.Sprintf(`{"key":"pages_at","label":"Pages printed","type":"number",
		"required_to_resolve":true,"category_ids":[%d]}`, printers), 201)
	pri := createRule(t, fmt.Sprintf(`{"name":"Printers are high","kind":"priority","conditions":[{"field":"category","op":"under","value":%d}],
		"actions":{"priority":"high"}}`, printers))
	asg := createRule(t, fmt.Sprintf(`{"name":"Printers to the print desk","kind":"assignment","conditions":[{"field":"category","op":"under","value":%d},
		{"field":"cf.printer_model_at","op":"is","value":"laserjet"}],"actions":{"team_id":%d,"strategy":"least_loaded"}}`, printers, team.ID))

	for _, c := range []struct {
		body string
		want string
	}{
		{fmt.Sprintf(`{"subject":"jam","category_id":%d}`, laserID), "custom_fields.printer_model_at"},
		{fmt.Sprintf(`{"subject":"jam","category_id":%d,"custom_fields":{"printer_model_at":"purple"}}`, laserID), "custom_fields.printer_model_at"},
		{fmt.Sprintf(`{"subject":"jam","category_id":%d,"custom_fields":{"printer_model_at":"laserjet","pages_at":"many"}}`, laserID), "custom_fields.pages_at"},
		{fmt.Sprintf(`{"subject":"jam","category_id":%d}`, old), "category_id"},
		{`{"subject":"jam","custom_fields":{"printer_model_at":"laserjet"}}`, "custom_fields.printer_model_at"},
	} {
		res := createTicket(t, c.body)
		if got := strings.Join(problemFields(t, res), ","); res.status != 422 || got != c.want {
			t.Errorf("%s: %d fields %q, want 422 naming %s", c.body, res.status, got, c.want)
		}
	}

	res := createTicket(t, fmt.Sprintf(`{"subject":"Paper jam","category_id":%d,"custom_fields":{"printer_model_at":"LaserJet"}}`, laserID))
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	if tk.Priority != ticket.PriorityHigh || tk.AssigneeID == nil || *tk.AssigneeID != agents[1] || tk.Category == nil || *tk.Category != "Hardware AT / Printers / Laser" {
		t.Fatalf("created %+v: want high, agent %d, category path", tk, agents[1])
	}
	if tk.CustomFields["printer_model_at"] != "laserjet" || tk.Channel != ticket.ChannelAPI {
		t.Errorf("fields %v channel %s", tk.CustomFields, tk.Channel)
	}
	routed := findKind(historyOf(t, tk.Number), "routed")
	if len(routed) != 1 || !strings.Contains(fmt.Sprint(routed[0].Data["reason"]), fmt.Sprintf(`rule "Printers to the print desk" (#%d), strategy least-loaded: agent %d (0 of no limit open)`, asg, agents[1])) ||
		!strings.Contains(fmt.Sprint(routed[0].Data["reason"]), fmt.Sprintf("(#%d)", pri)) {
		t.Fatalf("routed %+v", routed)
	}

	// Lists by category include subcategories.
	lres := call(t, env.baseURL, "GET", fmt.Sprintf("/api/v1/tickets?category_id=%d", hw), nil)
	var page struct {
		Items []ticket.Ticket `json:"items"`
	}
	lres.decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Number != tk.Number {
		t.Errorf("tickets under Hardware: %s", lres.body)
	}

	// Resolving needs the fields required for it; a value then lets it.
	res = call(t, env.baseURL, "PATCH", ticketURL(tk.Number), []byte(`{"status":"resolved"}`))
	if got := strings.Join(problemFields(t, res), ","); res.status != 422 || got != "custom_fields.pages_at" {
		t.Fatalf("resolve without pages: %d %s", res.status, res.body)
	}
	res = call(t, env.baseURL, "PATCH", ticketURL(tk.Number), []byte(`{"status":"resolved","custom_fields":{"pages_at":1200,"printer_model_at":"inkjet"}}`))
	if res.status != 200 {
		t.Fatalf("resolve: %d %s", res.status, res.body)
	}
	res.decode(t, &tk)
	if tk.Status != ticket.StatusResolved || tk.CustomFields["pages_at"] != float64(1200) || tk.CustomFields["printer_model_at"] != "inkjet" {
		t.Errorf("after resolve %+v", tk)
	}
	fc := findKind(historyOf(t, tk.Number), "fields_changed")
	if len(fc) != 1 {
		t.Fatalf("fields_changed %+v", fc)
	}
	ch, _ := fc[0].Data["changes"].(map[string]any)
	model, _ := ch["printer_model_at"].(map[string]any)
	if model["from"] != "laserjet" || model["to"] != "inkjet" || ch["pages_at"] == nil {
		t.Errorf("changes %v", ch)
	}
}

// TestBrowserClassifiesTicket drives Chromium through classification: the
// agent chooses a category on the new-ticket form, that category's fields
// appear, the missing required one is flagged where it is, and the created
// ticket's page shows the category path, the values by label and why it was
// routed. The server then holds what the browser showed.
func TestBrowserClassifiesTicket(t *testing.T) {
	team, agents := staffTeam(t, "e2e-print", 1)
	stamp := time.Now().UnixNano()
	root := int64(postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Office %d"}`, stamp), 201)["id"].(float64))
	leaf := postJSON(t, "/api/v1/categories", fmt.Sprintf(`{"name":"Copiers %d","parent_id":%d}`, stamp, root), 201)
	leafID := int64(leaf["id"].(float64))
	postJSON(t, "/api/v1/custom-fields", fmt.Sprintf(`{"key":"asset_e2e_%d","label":"Asset tag %d","type":"text","required":true,"category_ids":[%d]}`, stamp, stamp, leafID), 201)
	postJSON(t, "/api/v1/custom-fields", fmt.Sprintf(`{"key":"model_e2e_%d","label":"Copier model %d","type":"dropdown",
		"options":[{"id":"c300","label":"C300 Duplex"},"c500"],"category_ids":[%d]}`, stamp, stamp, leafID), 201)
	createRule(t, fmt.Sprintf(`{"name":"Copiers to the print desk %d","kind":"assignment","conditions":[{"field":"category","op":"under","value":%d}],
		"actions":{"team_id":%d,"strategy":"round_robin"}}`, stamp, root, team.ID))

	number, _ := runE2E(t, "classify-ticket.mjs", 3*time.Minute,
		"E2E_EMAIL=agent@example.com", "E2E_PASSWORD="+testPassword,
		"E2E_CATEGORY="+leaf["path"].(string),
		fmt.Sprintf("E2E_TEXT_LABEL=Asset tag %d", stamp),
		fmt.Sprintf("E2E_DROPDOWN_LABEL=Copier model %d", stamp), "E2E_DROPDOWN_OPTION=C300 Duplex",
		fmt.Sprintf("E2E_SUBJECT=Copier prints twice %d", stamp))
	tk := rowOf(t, number)
	if tk.CategoryID == nil || *tk.CategoryID != leafID || tk.CustomFields[fmt.Sprintf("asset_e2e_%d", stamp)] != "PR-0042" ||
		tk.CustomFields[fmt.Sprintf("model_e2e_%d", stamp)] != "c300" || tk.AssigneeID == nil || *tk.AssigneeID != agents[0] || tk.Channel != ticket.ChannelWeb {
		t.Errorf("ticket #%d as stored: category %v fields %v assignee %v channel %s", number, tk.CategoryID, tk.CustomFields, tk.AssigneeID, tk.Channel)
	}
}

// Routing keeps rules and field types in memory per configuration
// version (migration 016): a change through the API, or an operator's SQL,
// routes the very next ticket by the new rules.
func TestRoutingSeesRuleChangesAtOnce(t *testing.T) {
	word := fmt.Sprintf("toaster%d", time.Now().UnixNano())
	id := createRule(t, fmt.Sprintf(`{"name":"%s","kind":"priority","position":1,
		"conditions":[{"field":"keywords","op":"any","value":[%q]}],"actions":{"priority":"low"}}`, word, word))
	priorityOfNew := func() ticket.Priority {
		t.Helper()
		res := createTicket(t, fmt.Sprintf(`{"subject":"the %s is smoking"}`, word))
		if res.status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.status, res.body)
		}
		var tk ticket.Ticket
		res.decode(t, &tk)
		return tk.Priority
	}
	if p := priorityOfNew(); p != ticket.PriorityLow {
		t.Fatalf("priority %s, want low from the rule", p)
	}
	if res := call(t, env.baseURL, http.MethodPatch, fmt.Sprintf("/api/v1/rules/%d", id), []byte(`{"actions":{"priority":"critical"}}`)); res.status != http.StatusOK {
		t.Fatalf("update rule: %d %s", res.status, res.body)
	}
	if p := priorityOfNew(); p != ticket.PriorityCritical {
		t.Fatalf("priority %s after the rule changed to critical", p)
	}
	if _, err := env.store.Pool().Exec(context.Background(), `UPDATE rules SET enabled = false WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if p := priorityOfNew(); p != ticket.PriorityMedium {
		t.Fatalf("priority %s after an operator disabled the rule in SQL, want the default medium", p)
	}
}
