package lifecycle

import (
	"fmt"
	"slices"
	"strings"

	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Routing is one routing decision being made: the policy that turns the
// rules' outcome and the facts read under the team and agent locks into a
// Decision, with no I/O. The store drives it inside its transaction:
//
//	r := NewRouting(req, outcome)
//	if id := r.Agent(); id != nil { r.OfferAgent(facts of agent *id) }
//	if id := r.Team(); id != nil { r.OfferTeam(facts of team *id) }
//	d := r.Decision()
//
// so the choice is race-free (the facts are locked until the assignee is
// written) and every rule of it has plain unit tests.
type Routing struct {
	req      RouteRequest
	d        Decision
	reasons  []string
	label    string
	teamID   *int64
	agentID  *int64
	strategy string
	skills   []string
	chosen   *int64
	choice   string
	// agentDone, teamDone: the facts were offered.
	agentDone, teamDone bool
}

// AgentFacts is a rule's named agent as read under its row lock.
type AgentFacts struct {
	// Active: the user exists, is staff and is not disabled.
	Active   bool
	Away     bool
	Capacity *int
	// Load is the agent's open tickets other than this one.
	Load int
}

// TeamFacts is a team as read under its lock: its round-robin cursor and
// its active members with their open tickets (other than this one).
type TeamFacts struct {
	Found   bool
	Cursor  int64
	Members []rules.Candidate
}

func ruleLabel(r rules.Ref) string { return fmt.Sprintf("rule %q (#%d)", r.Name, r.ID) }

// strategyName is how reasons spell a strategy ("least-loaded").
func strategyName(s string) string { return strings.ReplaceAll(s, "_", "-") }

// NewRouting starts a decision from the rules' outcome: the priority part
// (a person's priority is kept) and what the assignment asks for (a
// person's assignment is kept unless the ticket is being rerouted; a
// reroute no rule covers spreads the ticket within its team).
func NewRouting(req RouteRequest, out rules.Outcome) *Routing {
	r := &Routing{req: req, d: Decision{Rules: out.Matched}}
	if r.d.Rules == nil {
		r.d.Rules = []rules.Ref{}
	}
	if out.Priority != nil {
		p := ticket.Priority(*out.Priority)
		switch {
		case req.PriorityManual:
			r.reasons = append(r.reasons, fmt.Sprintf("%s would set priority %s; kept %s, set by a person", ruleLabel(*out.PriorityRule), p, req.Priority))
		case p != req.Priority:
			r.d.Priority = &p
			r.d.PriorityReason = fmt.Sprintf("priority %s by %s", p, ruleLabel(*out.PriorityRule))
			r.reasons = append(r.reasons, r.d.PriorityReason)
		}
	}
	a := out.Assignment
	switch {
	case req.AssigneeManual && req.Trigger != RouteReroute:
		if a != nil {
			r.reasons = append(r.reasons, fmt.Sprintf("%s matched; kept the assignment a person made", ruleLabel(rules.Ref{ID: a.ID, Name: a.Name})))
		}
	case a != nil:
		r.label = ruleLabel(rules.Ref{ID: a.ID, Name: a.Name})
		r.teamID, r.agentID, r.strategy, r.skills = a.Actions.TeamID, a.Actions.AgentID, a.Actions.Strategy, a.Actions.Skills
	case req.Trigger == RouteReroute && req.TeamID != nil:
		// No rule routes it: spread the agent's tickets within their team.
		r.label, r.teamID, r.strategy = fmt.Sprintf("reroute within team %d", *req.TeamID), req.TeamID, rules.StrategyLeastLoaded
	}
	if r.label != "" && r.teamID != nil && !SameID(r.teamID, req.TeamID) {
		r.d.SetTeam, r.d.TeamID = true, r.teamID
	}
	if r.agentID != nil && slices.Contains(req.Exclude, *r.agentID) {
		// Its facts are not needed: the team (if any) decides.
		r.agentDone = true
		r.choice = fmt.Sprintf("agent %d is being rerouted away from", *r.agentID)
	}
	return r
}

// Agent is the agent whose facts the decision needs (a rule names one who
// is not being rerouted away from), or nil.
func (r *Routing) Agent() *int64 {
	if r.label == "" || r.agentID == nil || r.agentDone {
		return nil
	}
	return r.agentID
}

// OfferAgent decides on the rule's named agent: an active staff member,
// not away, under capacity (their own ticket does not count against them).
func (r *Routing) OfferAgent(f AgentFacts) {
	r.agentDone = true
	id := *r.agentID
	why := ""
	limit := r.req.DefaultCapacity
	if f.Capacity != nil {
		limit = *f.Capacity
	}
	switch {
	case !f.Active:
		why = "is not an active agent"
	case f.Away:
		why = "is away"
	case limit > 0 && !SameID(r.req.AssigneeID, &id) && f.Load >= limit:
		why = fmt.Sprintf("is at capacity (%d of %d open)", f.Load, limit)
	}
	if why != "" {
		r.choice = fmt.Sprintf("agent %d %s", id, why)
		return
	}
	r.chosen, r.choice = &id, fmt.Sprintf("agent %d", id)
}

// Team is the team whose facts the decision needs (no agent was chosen and
// the rule names a team), or nil.
func (r *Routing) Team() *int64 {
	if r.label == "" || r.teamID == nil || r.chosen != nil || r.teamDone || r.Agent() != nil {
		return nil
	}
	return r.teamID
}

// OfferTeam picks a member with the rule's strategy (rules.Choose). An
// agent already holding the ticket who is still eligible keeps it:
// re-routing after an edit must not shuffle work. It returns the team's
// new round-robin cursor and whether it moved (the caller writes it).
func (r *Routing) OfferTeam(f TeamFacts) (int64, bool) {
	r.teamDone = true
	if r.strategy == "" {
		r.strategy = rules.StrategyRoundRobin
	}
	r.d.Strategy = r.strategy
	prefix := "strategy " + strategyName(r.strategy) + ": "
	id := *r.teamID
	switch {
	case !f.Found:
		r.choice = prefix + fmt.Sprintf("team %d does not exist; left unassigned", id)
		return f.Cursor, false
	case len(f.Members) == 0:
		r.choice = prefix + fmt.Sprintf("team %d has no members; left unassigned in the team queue", id)
		return f.Cursor, false
	}
	if cur := r.req.AssigneeID; cur != nil && !slices.Contains(r.req.Exclude, *cur) {
		for _, c := range f.Members {
			if c.ID == *cur && !c.Away && hasSkills(c.Skills, r.skills) {
				keep := c.ID
				r.chosen, r.choice = &keep, prefix+fmt.Sprintf("agent %d keeps it (already assigned, %d open)", keep, c.Load)
				return f.Cursor, false
			}
		}
	}
	ch := rules.Choose(r.strategy, f.Members, f.Cursor, r.skills, r.req.Exclude)
	r.chosen, r.choice = ch.AgentID, prefix+ch.Reason
	return ch.Cursor, ch.AgentID != nil && ch.Cursor != f.Cursor
}

// Decision is the decision as the facts offered leave it, with its
// reason for people: what decided and why.
func (r *Routing) Decision() Decision {
	d := r.d
	if r.label == "" {
		d.Reason = strings.Join(r.reasons, "; ")
		return d
	}
	assignee := r.req.AssigneeID
	switch {
	case r.chosen != nil:
		assignee = r.chosen
	case d.SetTeam || assignee != nil && slices.Contains(r.req.Exclude, *assignee):
		assignee = nil // nobody could take it: it waits in the team's queue
	}
	d.SetAssignee = !SameID(assignee, r.req.AssigneeID)
	d.AssigneeID = assignee
	first := r.label + ", " + r.choice
	if r.agentID == nil && r.teamID == nil {
		first = r.label
	}
	d.Reason = strings.Join(append([]string{first}, r.reasons...), "; ")
	return d
}

func hasSkills(have, need []string) bool {
	for _, n := range need {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, n) }) {
			return false
		}
	}
	return true
}
