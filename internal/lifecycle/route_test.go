package lifecycle

import (
	"testing"

	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// TestRoutingPolicy: the routing policy as pure steps over the facts the
// store reads under its locks. Each case names what an agent, a lead or a
// requester would notice: who gets the ticket, and the reason written in
// its history.
func TestRoutingPolicy(t *testing.T) {
	id := func(n int64) *int64 { return &n }
	capacity := func(n int) *int { return &n }
	high := "high"
	toTeam := &rules.Rule{ID: 7, Name: "Printers", Actions: rules.Actions{TeamID: id(3), Strategy: rules.StrategyLeastLoaded}}
	toAgent := &rules.Rule{ID: 8, Name: "VIP", Actions: rules.Actions{AgentID: id(31)}}
	toAgentInTeam := &rules.Rule{ID: 9, Name: "Desk", Actions: rules.Actions{AgentID: id(31), TeamID: id(3)}}
	team := TeamFacts{Found: true, Cursor: 0, Members: []rules.Candidate{{ID: 31, Load: 4, Capacity: 4}, {ID: 32, Load: 1}, {ID: 33, Load: 2}}}
	for _, c := range []struct {
		name       string
		req        RouteRequest
		out        rules.Outcome
		agent      *AgentFacts
		team       *TeamFacts
		assignee   *int64 // the assignee the decision leaves
		unchanged  bool   // the decision does not touch the assignee
		setTeam    bool
		reason     string
		cursorMove bool
	}{
		{name: "least loaded member of the rule's team",
			req: RouteRequest{Trigger: RouteCreated}, out: rules.Outcome{Assignment: toTeam}, team: &team,
			assignee: id(32), setTeam: true, cursorMove: true,
			reason: `rule "Printers" (#7), strategy least-loaded: agent 32 (1 of no limit open)`},
		{name: "a person's priority is kept",
			req:       RouteRequest{Trigger: RouteChanged, Priority: ticket.PriorityLow, PriorityManual: true},
			out:       rules.Outcome{Priority: &high, PriorityRule: &rules.Ref{ID: 2, Name: "Urgent"}},
			unchanged: true, reason: `rule "Urgent" (#2) would set priority high; kept low, set by a person`},
		{name: "a person's assignment is kept",
			req: RouteRequest{Trigger: RouteChanged, AssigneeID: id(40), AssigneeManual: true}, out: rules.Outcome{Assignment: toTeam},
			unchanged: true, reason: `rule "Printers" (#7) matched; kept the assignment a person made`},
		{name: "named agent free",
			req: RouteRequest{Trigger: RouteCreated}, out: rules.Outcome{Assignment: toAgent}, agent: &AgentFacts{Active: true, Load: 9},
			assignee: id(31), reason: `rule "VIP" (#8), agent 31`},
		{name: "named agent away: nobody, no team to fall back on",
			req: RouteRequest{Trigger: RouteCreated}, out: rules.Outcome{Assignment: toAgent}, agent: &AgentFacts{Active: true, Away: true},
			reason: `rule "VIP" (#8), agent 31 is away`},
		{name: "named agent disabled",
			req: RouteRequest{Trigger: RouteCreated}, out: rules.Outcome{Assignment: toAgent}, agent: &AgentFacts{},
			reason: `rule "VIP" (#8), agent 31 is not an active agent`},
		{name: "named agent at capacity falls back to the team",
			req: RouteRequest{Trigger: RouteCreated}, out: rules.Outcome{Assignment: toAgentInTeam},
			agent: &AgentFacts{Active: true, Capacity: capacity(4), Load: 4}, team: &team,
			assignee: id(32), setTeam: true, cursorMove: true,
			reason: `rule "Desk" (#9), strategy round-robin: agent 32 (1 of no limit open)`},
		{name: "the agent's own ticket does not count against their capacity",
			req: RouteRequest{Trigger: RouteChanged, AssigneeID: id(31)}, out: rules.Outcome{Assignment: toAgent},
			agent: &AgentFacts{Active: true, Capacity: capacity(4), Load: 4}, assignee: id(31), reason: `rule "VIP" (#8), agent 31`},
		{name: "rerouted away from the named agent: their team decides",
			req: RouteRequest{Trigger: RouteReroute, Exclude: []int64{31}}, out: rules.Outcome{Assignment: toAgentInTeam}, team: &team,
			assignee: id(32), setTeam: true, cursorMove: true,
			reason: `rule "Desk" (#9), strategy round-robin: agent 32 (1 of no limit open)`},
		{name: "current assignee still eligible keeps it",
			req: RouteRequest{Trigger: RouteChanged, TeamID: id(3), AssigneeID: id(33)}, out: rules.Outcome{Assignment: toTeam}, team: &team,
			assignee: id(33), reason: `rule "Printers" (#7), strategy least-loaded: agent 33 keeps it (already assigned, 2 open)`},
		{name: "team gone: left unassigned",
			req: RouteRequest{Trigger: RouteCreated, AssigneeID: id(50)}, out: rules.Outcome{Assignment: toTeam}, team: &TeamFacts{},
			setTeam: true, reason: `rule "Printers" (#7), strategy least-loaded: team 3 does not exist; left unassigned`},
		{name: "reroute with no rule spreads within the team",
			req: RouteRequest{Trigger: RouteReroute, TeamID: id(3), Exclude: []int64{32}}, team: &team,
			assignee: id(33), cursorMove: true,
			reason: `reroute within team 3, strategy least-loaded: agent 33 (2 of no limit open)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := NewRouting(c.req, c.out)
			if got := r.Agent(); (got != nil) != (c.agent != nil) {
				t.Fatalf("agent facts asked for %v, offered %v", got, c.agent)
			} else if got != nil {
				r.OfferAgent(*c.agent)
			}
			moved := false
			if got := r.Team(); (got != nil) != (c.team != nil) {
				t.Fatalf("team facts asked for %v, offered %v", got, c.team)
			} else if got != nil {
				_, moved = r.OfferTeam(*c.team)
			}
			d := r.Decision()
			switch {
			case c.unchanged && (d.SetAssignee || d.AssigneeID != nil):
				t.Errorf("assignee %v (set %v), want it left alone", d.AssigneeID, d.SetAssignee)
			case !c.unchanged && (!SameID(d.AssigneeID, c.assignee) || d.SetAssignee != !SameID(c.assignee, c.req.AssigneeID)):
				t.Errorf("assignee %v (set %v), want %v", fmtID(d.AssigneeID), d.SetAssignee, fmtID(c.assignee))
			}
			if d.SetTeam != c.setTeam || d.Reason != c.reason || moved != c.cursorMove {
				t.Errorf("set team %v, cursor moved %v, reason %q; want %v, %v, %q", d.SetTeam, moved, d.Reason, c.setTeam, c.cursorMove, c.reason)
			}
		})
	}
}

func fmtID(p *int64) string {
	if p == nil {
		return "none"
	}
	return itoa(*p)
}
