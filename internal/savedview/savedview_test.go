package savedview

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/helpdesk/helpdesk/internal/query"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Teams 10 (Support) and 20 (Finance).
var (
	agent     = Caller{UserID: 1, Role: ticket.RoleAgent, TeamIDs: []int64{10}}
	lead      = Caller{UserID: 2, Role: ticket.RoleLead, TeamIDs: []int64{10}, LeadOf: []int64{10}}
	lead2     = Caller{UserID: 3, Role: ticket.RoleLead, TeamIDs: []int64{20}, LeadOf: []int64{20}}
	coLead    = Caller{UserID: 4, Role: ticket.RoleLead, TeamIDs: []int64{10}, LeadOf: []int64{10}}
	admin     = Caller{UserID: 5, Role: ticket.RoleAdmin}
	admin2    = Caller{UserID: 6, Role: ticket.RoleAdmin}
	requester = Caller{UserID: 7, Role: ticket.RoleRequester}
	// An agent named as a team's lead without the lead role.
	agentLeading = Caller{UserID: 8, Role: ticket.RoleAgent, TeamIDs: []int64{10}, LeadOf: []int64{10}}
	outsider     = Caller{UserID: 9, Role: ticket.RoleAgent, TeamIDs: []int64{20}}
)

func team(id int64) *int64 { return &id }

func TestMayShare(t *testing.T) {
	for _, c := range []struct {
		name   string
		caller Caller
		vis    Visibility
		team   *int64
		ok     bool
	}{
		{"agent personal", agent, Personal, nil, true},
		{"agent to own team", agent, Team, team(10), false},
		{"agent to everyone", agent, Everyone, nil, false},
		{"agent named lead without the role", agentLeading, Team, team(10), false},
		{"lead personal", lead, Personal, nil, true},
		{"lead to own team", lead, Team, team(10), true},
		{"lead to another team", lead, Team, team(20), false},
		{"lead to a team that does not exist", lead, Team, team(99), false},
		{"lead to everyone", lead, Everyone, nil, false},
		{"admin to any team", admin, Team, team(20), true},
		{"admin to everyone", admin, Everyone, nil, true},
		{"requester keeps no views", requester, Personal, nil, false},
		{"unknown visibility", admin, "public", nil, false},
	} {
		err := MayShare(c.caller, c.vis, c.team)
		if (err == nil) != c.ok {
			t.Errorf("%s: MayShare = %v, want allowed %v", c.name, err, c.ok)
		}
	}
}

func TestWhoSeesAndChangesWhat(t *testing.T) {
	personal := View{ID: 1, OwnerID: agent.UserID, Visibility: Personal}
	support := View{ID: 2, OwnerID: lead.UserID, Visibility: Team, TeamID: team(10)}
	everyone := View{ID: 3, OwnerID: admin.UserID, Visibility: Everyone}
	// Shared by someone who no longer leads the team (now an agent).
	orphan := View{ID: 4, OwnerID: agent.UserID, Visibility: Team, TeamID: team(10)}
	leftTeam := View{ID: 5, OwnerID: lead2.UserID, Visibility: Team, TeamID: team(10)}

	type rights struct{ see, edit, del bool }
	for _, c := range []struct {
		name   string
		caller Caller
		view   View
		want   rights
	}{
		{"owner, personal", agent, personal, rights{true, true, true}},
		{"another agent, personal", outsider, personal, rights{}},
		{"admin, someone's personal", admin, personal, rights{}},
		{"lead, an agent's personal", lead, personal, rights{}},
		{"team member, team view", agent, support, rights{true, false, false}},
		{"its lead, team view", lead, support, rights{true, true, true}},
		{"another lead of the team", coLead, support, rights{true, true, true}},
		{"lead of another team", lead2, support, rights{}},
		{"agent of another team", outsider, support, rights{}},
		{"admin, any team view", admin, support, rights{true, true, true}},
		{"requester, team view", requester, support, rights{}},
		{"agent, everyone view", agent, everyone, rights{true, false, false}},
		{"lead, everyone view", lead, everyone, rights{true, false, false}},
		{"another admin, everyone view", admin2, everyone, rights{true, true, true}},
		{"requester, everyone view", requester, everyone, rights{}},
		{"demoted owner may withdraw, not change", agent, orphan, rights{true, false, true}},
		{"owner who left the team still sees it", lead2, leftTeam, rights{true, false, true}},
	} {
		got := rights{CanSee(c.caller, c.view), CanEdit(c.caller, c.view) == nil, CanDelete(c.caller, c.view) == nil}
		if got != c.want {
			t.Errorf("%s: see/edit/delete = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestCanMove(t *testing.T) {
	support := View{ID: 2, OwnerID: lead.UserID, Visibility: Team, TeamID: team(10)}
	for _, c := range []struct {
		name   string
		caller Caller
		to     Visibility
		team   *int64
		ok     bool
	}{
		{"owner takes it back", lead, Personal, nil, true},
		{"admin may not hide it in the owner's list", admin, Personal, nil, false},
		{"co-lead may not hide it in the owner's list", coLead, Personal, nil, false},
		{"lead to a team they do not lead", lead, Team, team(20), false},
		{"lead to everyone", lead, Everyone, nil, false},
		{"admin to everyone", admin, Everyone, nil, true},
		{"admin to another team", admin, Team, team(20), true},
	} {
		if err := CanMove(c.caller, support, c.to, c.team); (err == nil) != c.ok {
			t.Errorf("%s: CanMove = %v, want allowed %v", c.name, err, c.ok)
		}
	}
}

// problems renders Check's problems as "field: detail" (and "@pos").
func problems(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		s := p.Field + ": " + p.Detail
		if p.Pos != nil {
			s += " @" + strconv.Itoa(*p.Pos)
		}
		out = append(out, s)
	}
	return out
}

func TestCheck(t *testing.T) {
	ok := View{Name: "  Printers  ", Query: "printer status:open", Visibility: Personal}
	got, probs := Check(ok)
	if len(probs) > 0 || got.Name != "Printers" || got.Sort != DefaultSort {
		t.Fatalf("Check(%+v) = %+v, %v; want the name trimmed and the default sort", ok, got, problems(probs))
	}
	hundred := strings.Repeat("é", MaxNameLen)
	if _, probs := Check(View{Name: hundred, Visibility: Personal}); len(probs) > 0 {
		t.Errorf("a name of %d characters (%d bytes) is refused: %v", MaxNameLen, len(hundred), problems(probs))
	}
	for _, s := range Sorts {
		if _, probs := Check(View{Name: "x", Sort: s, Visibility: Personal}); len(probs) > 0 {
			t.Errorf("sort %q refused: %v", s, problems(probs))
		}
	}
	long := strings.Repeat("printer ", 400) // 3,200 bytes
	for _, c := range []struct {
		view View
		want []string
	}{
		{View{Name: "   ", Visibility: Personal}, []string{"name: must not be empty"}},
		{View{Name: hundred + "é", Visibility: Personal}, []string{"name: is longer than 100 characters"}},
		{View{Name: strings.Repeat("x", 1<<20), Visibility: Personal}, []string{"name: is longer than 100 characters"}},
		{View{Name: "a\nb", Visibility: Personal}, []string{"name: must not contain control characters"}},
		{View{Name: "x", Query: "stauts:open", Visibility: Personal}, []string{`query: at position 0: unknown field "stauts"; fields are status, priority, assignee, team, category, requester, tag, channel, created, updated, due, escalated, breached, cf.<key> @0`}},
		{View{Name: "x", Query: "printer status:opne", Visibility: Personal}, []string{`query: at position 8: status: unknown status "opne"; want one of open, in_progress, pending, resolved, closed @8`}},
		{View{Name: "x", Query: long, Visibility: Personal}, []string{"query: at position 2048: the query is longer than 2048 bytes @2048"}},
		{View{Name: "x", Sort: "newest", Visibility: Personal}, []string{`sort: unknown sort "newest"; want one of relevance, urgency, created, -created, updated, -updated`}},
		{View{Name: "x", Sort: strings.Repeat("s", 5000), Visibility: Personal}, []string{"sort: unknown sort; want one of relevance, urgency, created, -created, updated, -updated"}},
		{View{Name: "x", Visibility: "public"}, []string{`visibility: unknown visibility "public"; want personal, team or everyone`}},
		{View{Name: "x", Visibility: Team}, []string{"team_id: is required for a team view"}},
		{View{Name: "x", Visibility: Everyone, TeamID: team(10)}, []string{`team_id: is only for team views (visibility "everyone" has none)`}},
		{View{Name: "x", Visibility: Personal, Position: -1}, []string{"position: must be a whole number from 0 to 10000"}},
		{View{Name: "x", Visibility: Personal, Position: MaxPosition + 1}, []string{"position: must be a whole number from 0 to 10000"}},
		// Every problem at once.
		{View{Name: "", Query: `"open`, Sort: "x", Visibility: ""}, []string{"name: must not be empty", "query: at position 0: a quote is not closed @0",
			`sort: unknown sort "x"; want one of relevance, urgency, created, -created, updated, -updated`, `visibility: unknown visibility ""; want personal, team or everyone`}},
	} {
		_, probs := Check(c.view)
		if got := problems(probs); !slices.Equal(got, c.want) {
			t.Errorf("Check(name %.20q, query %.20q, sort %.20q, visibility %q):\n got %q\nwant %q", c.view.Name, c.view.Query, c.view.Sort, c.view.Visibility, got, c.want)
		}
	}
}

// The built-in views are what docs/views.md promises, and each parses.
func TestBuiltins(t *testing.T) {
	want := map[string]string{
		"builtin:my-open":    "My open|assignee:me status:open,in_progress,pending|urgency",
		"builtin:unassigned": "Unassigned in my teams|assignee:none status:open,in_progress,pending|urgency",
		"builtin:breaching":  "Breaching within 2h|due:<2h status:open,in_progress,pending|urgency",
		"builtin:escalated":  "Escalated|escalated:true status:open,in_progress,pending|urgency",
		"builtin:recent":     "Recently updated|updated:<1d|-updated",
	}
	if len(Builtins) != len(want) {
		t.Fatalf("%d built-in views, want %d", len(Builtins), len(want))
	}
	for _, b := range Builtins {
		if got := b.Name + "|" + b.Query + "|" + b.Sort; got != want[b.ID()] {
			t.Errorf("%s = %q, want %q", b.ID(), got, want[b.ID()])
		}
		q, err := query.Parse(b.Query)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", b.ID(), b.Query, err)
		}
		if q.String() != b.Query {
			t.Errorf("%s: %q is not written canonically (%q)", b.ID(), b.Query, q.String())
		}
		if !slices.Contains(Sorts, b.Sort) {
			t.Errorf("%s: sort %q is not a search sort", b.ID(), b.Sort)
		}
		if got, ok := BuiltinByID(b.ID()); !ok || got != b {
			t.Errorf("BuiltinByID(%q) = %+v, %v", b.ID(), got, ok)
		}
	}
	for _, id := range []string{"builtin:", "builtin:MY-OPEN", "my-open", "42"} {
		if _, ok := BuiltinByID(id); ok {
			t.Errorf("BuiltinByID(%q) found a view", id)
		}
	}
}

func TestSortForList(t *testing.T) {
	vs := []View{
		{ID: 1, Name: "z everyone", Visibility: Everyone},
		{ID: 2, Name: "b team", Visibility: Team, TeamID: team(10)},
		{ID: 3, Name: "B mine", Visibility: Personal},
		{ID: 4, Name: "a mine", Visibility: Personal},
		{ID: 5, Name: "z mine first", Visibility: Personal, Position: 0},
		{ID: 6, Name: "a mine last", Visibility: Personal, Position: 5},
		{ID: 7, Name: "a team", Visibility: Team, TeamID: team(10)},
		{ID: 8, Name: "a mine", Visibility: Personal},
	}
	SortForList(vs)
	var got []int64
	for _, v := range vs {
		got = append(got, v.ID)
	}
	if want := []int64{4, 8, 3, 5, 6, 7, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
