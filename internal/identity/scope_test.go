package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// principalOf signs u in and returns the principal the API would see.
func principalOf(t *testing.T, u User) Principal {
	t.Helper()
	ctx := context.Background()
	secret, _, err := svc.CreateSession(ctx, u.ID, "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.SessionPrincipal(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTicketScope seeds tickets and checks that each kind of principal sees
// exactly the tickets it should, through SQL and through the Elasticsearch
// filter evaluated over the same tickets.
func TestTicketScope(t *testing.T) {
	ctx := context.Background()
	acme, err := svc.CreateOrganization(ctx, "Acme", true)
	if err != nil {
		t.Fatal(err)
	}
	globex, err := svc.CreateOrganization(ctx, "Globex", false)
	if err != nil {
		t.Fatal(err)
	}
	acme1, acme2 := newUser(t, RoleRequester, &acme.ID), newUser(t, RoleRequester, &acme.ID)
	globex1, globex2 := newUser(t, RoleRequester, &globex.ID), newUser(t, RoleRequester, &globex.ID)
	agentA, agentB := newUser(t, RoleAgent, nil), newUser(t, RoleAgent, nil)
	leadB := newUser(t, RoleLead, nil)
	admin := newUser(t, RoleAdmin, nil)
	teamA, err := svc.CreateTeam(ctx, "Scope A", nil, []int64{agentA.ID})
	if err != nil {
		t.Fatal(err)
	}
	teamB, err := svc.CreateTeam(ctx, "Scope B", &leadB.ID, []int64{agentB.ID})
	if err != nil {
		t.Fatal(err)
	}

	type seed struct {
		number    int64
		requester *int64
		team      *int64
		assignee  *int64
	}
	seeds := []seed{
		{1001, &acme1.ID, &teamA.ID, nil},
		{1002, &acme2.ID, &teamB.ID, nil},
		{1003, &globex1.ID, nil, nil},
		{1004, &globex2.ID, &teamB.ID, nil},
		{1005, &agentA.ID, &teamB.ID, nil}, // an agent's own request, routed elsewhere
		{1006, nil, &teamA.ID, nil},
		// assigned to agentA though it is team B's: its assignee sees it.
		{1007, &globex2.ID, &teamB.ID, &agentA.ID},
	}
	for _, s := range seeds {
		mustExec(t, `INSERT INTO tickets (number, subject, status, priority, created_at, updated_at, last_seq, requester_id, team_id, assignee_id)
			VALUES ($1, 'scope test', 'open', 'medium', now(), now(), 1, $2, $3, $4)`, s.number, s.requester, s.team, s.assignee)
	}

	disabled := principalOf(t, newUser(t, RoleAgent, nil))
	disabled.User.Disabled = true
	all := []int64{1001, 1002, 1003, 1004, 1005, 1006, 1007}
	for _, tc := range []struct {
		name string
		p    Principal
		o    ScopeOptions
		want []int64
		// manage: test ManageScope(p) instead of TicketScope(p, o)
		manage bool
	}{
		{"requester in sharing organization", principalOf(t, acme1), ScopeOptions{}, []int64{1001, 1002}, false},
		{"requester in private organization", principalOf(t, globex1), ScopeOptions{}, []int64{1003}, false},
		{"requester when agents see all", principalOf(t, globex2), ScopeOptions{AgentsSeeAllTickets: true}, []int64{1004, 1007}, false},
		{"agent: own team, untriaged, own request, assigned", principalOf(t, agentA), ScopeOptions{}, []int64{1001, 1003, 1005, 1006, 1007}, false},
		{"agent of the other team", principalOf(t, agentB), ScopeOptions{}, []int64{1002, 1003, 1004, 1005, 1007}, false},
		{"lead who is not a member", principalOf(t, leadB), ScopeOptions{}, []int64{1002, 1003, 1004, 1005, 1007}, false},
		{"agent when agents see all", principalOf(t, agentA), ScopeOptions{AgentsSeeAllTickets: true}, all, false},
		{"admin", principalOf(t, admin), ScopeOptions{}, all, false},
		{"nobody", Principal{}, ScopeOptions{AgentsSeeAllTickets: true}, nil, false},
		{"disabled", disabled, ScopeOptions{}, nil, false},
		// What one may manage for others (reroute): a lead, only the
		// tickets of the teams they lead, however much they may see.
		{"manage: lead", principalOf(t, leadB), ScopeOptions{AgentsSeeAllTickets: true}, []int64{1002, 1004, 1005, 1007}, true},
		{"manage: agent", principalOf(t, agentB), ScopeOptions{}, nil, true},
		{"manage: admin", principalOf(t, admin), ScopeOptions{}, all, true},
		{"manage: disabled", disabled, ScopeOptions{}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := TicketScope(tc.p, tc.o)
			if tc.manage {
				sc = ManageScope(tc.p)
			}
			if sc.All() != slices.Equal(tc.want, all) {
				t.Errorf("All() = %v", sc.All())
			}
			pred, args := sc.SQL("t", 3)
			// users is joined as u to show the predicate's own subquery
			// does not collide with the caller's aliases.
			rows, err := testPool.Query(ctx, `SELECT t.number FROM tickets t LEFT JOIN users u ON u.id = t.requester_id
				WHERE t.number BETWEEN $1 AND $2 AND `+pred+` ORDER BY t.number`, append([]any{1001, 1099}, args...)...)
			if err != nil {
				t.Fatalf("%s: %v", pred, err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				t.Fatalf("%s: %v", pred, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("SQL %s %v sees %v, want %v", pred, args, got, tc.want)
			}
			if got := esMatches(t, sc.ElasticsearchFilter()); !slices.Equal(got, tc.want) {
				t.Errorf("Elasticsearch filter sees %v, want %v", got, tc.want)
			}
		})
	}
}

// esMatches evaluates filter (after a JSON round trip, as Elasticsearch
// would receive it) over the scope test's tickets, indexed the way search
// documents carry requester_id, requester_org_id and team_id.
func esMatches(t *testing.T, filter map[string]any) []int64 {
	t.Helper()
	b, err := json.Marshal(filter)
	if err != nil {
		t.Fatal(err)
	}
	var q map[string]any
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	rows, err := testPool.Query(context.Background(), `SELECT t.number, t.requester_id, u.organization_id, t.team_id, t.assignee_id
		FROM tickets t LEFT JOIN users u ON u.id = t.requester_id WHERE t.number BETWEEN 1001 AND 1099 ORDER BY t.number`)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for rows.Next() {
		var number int64
		var requester, org, team, assignee *int64
		if err := rows.Scan(&number, &requester, &org, &team, &assignee); err != nil {
			t.Fatal(err)
		}
		doc := map[string]float64{}
		for field, v := range map[string]*int64{"requester_id": requester, "requester_org_id": org, "team_id": team, "assignee_id": assignee} {
			if v != nil {
				doc[field] = float64(*v)
			}
		}
		if esEval(t, q, doc) {
			out = append(out, number)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// esEval implements the query DSL subset ElasticsearchFilter uses.
func esEval(t *testing.T, q map[string]any, doc map[string]float64) bool {
	t.Helper()
	if len(q) != 1 {
		t.Fatalf("query %v has %d keys", q, len(q))
	}
	for kind, body := range q {
		m := body.(map[string]any)
		switch kind {
		case "match_all":
			return true
		case "match_none":
			return false
		case "term":
			for f, v := range m {
				got, ok := doc[f]
				return ok && got == v.(float64)
			}
		case "terms":
			for f, vs := range m {
				got, ok := doc[f]
				return ok && slices.Contains(vs.([]any), any(got))
			}
		case "exists":
			_, ok := doc[m["field"].(string)]
			return ok
		case "bool":
			for _, c := range asList(m["must_not"]) {
				if esEval(t, c.(map[string]any), doc) {
					return false
				}
			}
			should := asList(m["should"])
			if len(should) == 0 {
				return true
			}
			if m["minimum_should_match"] != float64(1) {
				t.Fatalf("bool %v without minimum_should_match 1", m)
			}
			for _, c := range should {
				if esEval(t, c.(map[string]any), doc) {
					return true
				}
			}
			return false
		}
		t.Fatalf("unsupported query %q", kind)
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestScopeSQLText(t *testing.T) {
	org := int64(8765432109)
	requester := Principal{User: User{ID: 9876543210, Role: RoleRequester, OrganizationID: &org}, OrganizationShared: true}
	agent := Principal{User: User{ID: 9876543210, Role: RoleAgent}, TeamIDs: []int64{7654321098}, LeadOf: []int64{6543210987}}
	for _, tc := range []struct {
		name     string
		sc       Scope
		alias    string
		argStart int
		want     string
		wantArgs []any
	}{
		{"requester", TicketScope(Principal{User: User{ID: 7, Role: RoleRequester}}, ScopeOptions{}), "t", 3,
			"(t.requester_id = $3)", []any{int64(7)}},
		{"shared organization", TicketScope(requester, ScopeOptions{}), "tickets", 1,
			"(tickets.requester_id = $1 OR tickets.requester_id IN (SELECT scope_u.id FROM users scope_u WHERE scope_u.organization_id = $2))",
			[]any{int64(9876543210), int64(8765432109)}},
		{"agent", TicketScope(agent, ScopeOptions{}), "", 5,
			"(requester_id = $5 OR assignee_id = $6 OR team_id = ANY($7) OR team_id IS NULL)",
			[]any{int64(9876543210), int64(9876543210), []int64{6543210987, 7654321098}}},
		{"admin", TicketScope(Principal{User: User{ID: 1, Role: RoleAdmin}}, ScopeOptions{}), "t", 1, "TRUE", nil},
		{"unknown role", TicketScope(Principal{User: User{ID: 1, Role: "root"}}, ScopeOptions{}), "t", 1, "FALSE", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pred, args := tc.sc.SQL(tc.alias, tc.argStart)
			if pred != tc.want || fmt.Sprint(args) != fmt.Sprint(tc.wantArgs) {
				t.Errorf("SQL = %q %v, want %q %v", pred, args, tc.want, tc.wantArgs)
			}
			// No value reaches the text: only placeholders, numbered from
			// argStart, one per argument.
			if regexp.MustCompile(`[0-9]{4,}`).MatchString(strings.NewReplacer("$", " $").Replace(pred)) {
				t.Errorf("predicate %q contains a value", pred)
			}
			var seen []int
			for _, m := range regexp.MustCompile(`\$([0-9]+)`).FindAllStringSubmatch(pred, -1) {
				n, _ := strconv.Atoi(m[1])
				if !slices.Contains(seen, n) {
					seen = append(seen, n)
				}
			}
			for i, n := range seen {
				if n != tc.argStart+i {
					t.Errorf("placeholders %v, want %d.. in order", seen, tc.argStart)
				}
			}
			if len(seen) != len(args) {
				t.Errorf("%d placeholders for %d arguments", len(seen), len(args))
			}
		})
	}
}

func TestScopeSQLRejectsBadAlias(t *testing.T) {
	sc := TicketScope(Principal{User: User{ID: 1, Role: RoleRequester}}, ScopeOptions{})
	for _, alias := range []string{"t; DROP TABLE tickets; --", "t.x", "1t", "t ", `"t"`} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("alias %q accepted", alias)
				}
			}()
			sc.SQL(alias, 1)
		}()
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("argStart 0 accepted")
			}
		}()
		sc.SQL("t", 0)
	}()
}

func TestElasticsearchFilter(t *testing.T) {
	org := int64(4)
	for _, tc := range []struct {
		name string
		p    Principal
		want string
	}{
		{"requester", Principal{User: User{ID: 7, Role: RoleRequester, OrganizationID: &org}},
			`{"bool":{"minimum_should_match":1,"should":[{"term":{"requester_id":7}}]}}`},
		{"shared organization", Principal{User: User{ID: 7, Role: RoleRequester, OrganizationID: &org}, OrganizationShared: true},
			`{"bool":{"minimum_should_match":1,"should":[{"term":{"requester_id":7}},{"term":{"requester_org_id":4}}]}}`},
		{"agent", Principal{User: User{ID: 8, Role: RoleAgent}, TeamIDs: []int64{3, 2}},
			`{"bool":{"minimum_should_match":1,"should":[{"term":{"requester_id":8}},{"term":{"assignee_id":8}},{"terms":{"team_id":[2,3]}},{"bool":{"must_not":[{"exists":{"field":"team_id"}}]}}]}}`},
		{"admin", Principal{User: User{ID: 1, Role: RoleAdmin}}, `{"match_all":{}}`},
		{"nobody", Principal{}, `{"match_none":{}}`},
	} {
		b, err := json.Marshal(TicketScope(tc.p, ScopeOptions{}).ElasticsearchFilter())
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s: %s\nwant %s", tc.name, b, tc.want)
		}
	}
}

func BenchmarkTicketScope(b *testing.B) {
	p := Principal{User: User{ID: 42, Role: RoleLead}, TeamIDs: []int64{1, 2, 3, 4}, LeadOf: []int64{2, 5}}
	for b.Loop() {
		TicketScope(p, ScopeOptions{}).SQL("t", 3)
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	hash, err := HashPassword(testPassword)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := VerifyPassword(hash, testPassword); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
