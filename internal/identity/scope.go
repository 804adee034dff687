package identity

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ScopeOptions are the deployment's visibility settings.
type ScopeOptions struct {
	// AgentsSeeAllTickets lets agents and leads see every ticket instead of
	// only their teams', untriaged ones and their own requests.
	AgentsSeeAllTickets bool
}

// Scope is the set of tickets a principal may see, built by TicketScope and
// rendered as a SQL predicate (SQL) or an Elasticsearch filter
// (ElasticsearchFilter) so that lists, search and single reads agree.
//
// A ticket is visible when any of the set conditions holds; a Scope with
// none set shows nothing.
type Scope struct {
	all         bool
	requesterID int64   // tickets this user asked for; 0: none
	assigneeID  int64   // tickets assigned to this user; 0: none
	orgID       int64   // tickets asked for by members of this organization; 0: none
	teamIDs     []int64 // tickets routed to these teams
	untriaged   bool    // tickets routed to no team yet
}

// TicketScope is the one rule deciding which tickets p may see:
//
//   - requester: tickets they asked for, and when their organization shares
//     tickets, those asked for by anyone in the organization;
//   - agent and lead: tickets of their teams (led or member), untriaged
//     tickets (no team), tickets they asked for themselves and tickets
//     assigned to them, whatever their team (someone may assign a ticket to
//     a person outside its team, and its assignee must be able to work
//     it); everything when o.AgentsSeeAllTickets;
//   - admin: everything;
//   - anyone else (no user, disabled user, unknown role): nothing.
func TicketScope(p Principal, o ScopeOptions) Scope {
	u := p.User
	if u.ID == 0 || u.Disabled {
		return Scope{}
	}
	switch u.Role {
	case RoleAdmin:
		return Scope{all: true}
	case RoleAgent, RoleLead:
		if o.AgentsSeeAllTickets {
			return Scope{all: true}
		}
		teams := append(slices.Clone(p.TeamIDs), p.LeadOf...)
		slices.Sort(teams)
		return Scope{requesterID: u.ID, assigneeID: u.ID, teamIDs: slices.Compact(teams), untriaged: true}
	case RoleRequester:
		sc := Scope{requesterID: u.ID}
		if p.OrganizationShared && u.OrganizationID != nil {
			sc.orgID = *u.OrganizationID
		}
		return sc
	}
	return Scope{}
}

// ManageScope is the set of tickets p may manage on behalf of others, such
// as moving another agent's tickets away from them (reroute): every ticket
// for an admin, the tickets of the teams a lead leads, and none for anyone
// else. Unlike TicketScope it does not grow with agents_see_all_tickets or
// include untriaged tickets: seeing a ticket is not running its team.
func ManageScope(p Principal) Scope {
	u := p.User
	if u.ID == 0 || u.Disabled {
		return Scope{}
	}
	switch u.Role {
	case RoleAdmin:
		return Scope{all: true}
	case RoleLead:
		teams := slices.Clone(p.LeadOf)
		slices.Sort(teams)
		return Scope{teamIDs: slices.Compact(teams)}
	}
	return Scope{}
}

// All reports whether the scope is every ticket, so callers can skip
// filtering altogether.
func (sc Scope) All() bool { return sc.all }

// SQL renders the scope as a parenthesized predicate over the tickets table
// aliased alias ("" for unqualified columns), numbering its placeholders
// from $argStart, and returns the values for them. Only placeholders and
// fixed text go into the predicate, never a value. alias is program text,
// not input: SQL panics unless it is a plain identifier, as it does for
// argStart < 1.
//
// For a requester with id 7, alias "t" and argStart 3 it returns
// "(t.requester_id = $3)" and [7].
func (sc Scope) SQL(alias string, argStart int) (predicate string, args []any) {
	if argStart < 1 {
		panic(fmt.Sprintf("identity: Scope.SQL: argStart %d < 1", argStart))
	}
	if alias != "" && !plainIdentifier(alias) {
		panic(fmt.Sprintf("identity: Scope.SQL: alias %q is not a plain identifier", alias))
	}
	if sc.all {
		return "TRUE", nil
	}
	col := func(name string) string {
		if alias == "" {
			return name
		}
		return alias + "." + name
	}
	var conds []string
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(argStart+len(args)-1)
	}
	if sc.requesterID != 0 {
		conds = append(conds, col("requester_id")+" = "+arg(sc.requesterID))
	}
	if sc.assigneeID != 0 {
		conds = append(conds, col("assignee_id")+" = "+arg(sc.assigneeID))
	}
	if sc.orgID != 0 {
		conds = append(conds, col("requester_id")+" IN (SELECT scope_u.id FROM users scope_u WHERE scope_u.organization_id = "+arg(sc.orgID)+")")
	}
	if len(sc.teamIDs) > 0 {
		conds = append(conds, col("team_id")+" = ANY("+arg(sc.teamIDs)+")")
	}
	if sc.untriaged {
		conds = append(conds, col("team_id")+" IS NULL")
	}
	if len(conds) == 0 {
		return "FALSE", nil
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// ElasticsearchFilter renders the scope as a query clause for the filter
// context of a ticket search, over the document fields requester_id,
// assignee_id, requester_org_id and team_id (longs; team_id absent when
// untriaged):
// match_all for everything, match_none for nothing, else a bool "should"
// of the conditions.
//
// requester_org_id is copied into the document when it is indexed, whereas
// SQL looks the organization up live: after a requester moves organization
// their tickets need reindexing for search to agree.
func (sc Scope) ElasticsearchFilter() map[string]any {
	if sc.all {
		return map[string]any{"match_all": map[string]any{}}
	}
	var should []any
	if sc.requesterID != 0 {
		should = append(should, map[string]any{"term": map[string]any{"requester_id": sc.requesterID}})
	}
	if sc.assigneeID != 0 {
		should = append(should, map[string]any{"term": map[string]any{"assignee_id": sc.assigneeID}})
	}
	if sc.orgID != 0 {
		should = append(should, map[string]any{"term": map[string]any{"requester_org_id": sc.orgID}})
	}
	if len(sc.teamIDs) > 0 {
		should = append(should, map[string]any{"terms": map[string]any{"team_id": slices.Clone(sc.teamIDs)}})
	}
	if sc.untriaged {
		should = append(should, map[string]any{"bool": map[string]any{
			"must_not": []any{map[string]any{"exists": map[string]any{"field": "team_id"}}},
		}})
	}
	if len(should) == 0 {
		return map[string]any{"match_none": map[string]any{}}
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// plainIdentifier reports whether s is [A-Za-z_][A-Za-z0-9_]*.
func plainIdentifier(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && '0' <= r && r <= '9':
		default:
			return false
		}
	}
	return s != ""
}
