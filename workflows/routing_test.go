package workflows

import (
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

func ptr64(n int64) *int64 { return &n }

// The decision made at creation is recorded, with its reason, before the
// create Update answers, so the caller's 201 already has it.
func TestRoutingAtCreationBeforeTheAnswer(t *testing.T) {
	h := newHarness(t)
	high := ticket.PriorityHigh
	h.decide = func(req lifecycle.RouteRequest) lifecycle.Decision {
		return lifecycle.Decision{Rules: []rules.Ref{{ID: 7, Name: "Printers", Kind: rules.KindAssignment}},
			Priority: &high, SetTeam: true, TeamID: ptr64(3), SetAssignee: true, AssigneeID: ptr64(agentA),
			Strategy: rules.StrategyLeastLoaded, Reason: `rule "Printers" (#7), strategy least-loaded: agent 200 (0 of no limit open)`}
	}
	var upd updateResult
	var kindsAtAnswer string
	h.at(0, func() { h.env.UpdateWorkflow(UpdateCreate, "create-1", &upd) })
	h.at(time.Second, func() {
		if upd.done {
			kindsAtAnswer = h.kinds()
		}
	})
	h.run(testPolicy(), ticket.PriorityMedium, time.Minute)
	if upd.err != nil || !upd.done {
		t.Fatalf("create: done %v err %v", upd.done, upd.err)
	}
	if want := "created routed priority_changed team_changed assigned"; kindsAtAnswer != want {
		t.Errorf("events when create answered: %q, want %q", kindsAtAnswer, want)
	}
	if len(h.routes) != 1 || h.routes[0].Trigger != lifecycle.RouteCreated || h.routes[0].Key != "1:created:1" {
		t.Fatalf("route requests %+v", h.routes)
	}
	for _, kind := range []string{"routed", "priority_changed", "team_changed", "assigned"} {
		e := h.found(kind)
		if len(e) != 1 || reasonOf(e[0].Data) == "" {
			t.Errorf("%s: %+v, want one event with the reason", kind, e)
		}
	}
	if last := h.rows[len(h.rows)-1]; last.Priority != ticket.PriorityHigh || last.AssigneeID == nil || *last.AssigneeID != agentA || *last.TeamID != 3 {
		t.Errorf("row after routing %+v", last)
	}
}

// A priority an agent sets re-runs routing with that priority kept; an
// assignment made by hand is marked so rules keep it; a reroute unassigns
// first and excludes the agent it moves away from.
func TestRoutingAfterChangesAndReroute(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() { h.change(ChangeRequest{Actor: asAgent, Priority: priority(ticket.PriorityLow)}) })
	h.at(2*time.Minute, func() { h.change(ChangeRequest{Actor: asAgent, Assignee: &IDChange{ID: ptr64(agentB)}}) })
	h.at(3*time.Minute, func() {
		h.decide = func(req lifecycle.RouteRequest) lifecycle.Decision {
			return lifecycle.Decision{Rules: []rules.Ref{{ID: 2, Name: "Desk"}}, SetAssignee: true, AssigneeID: ptr64(agentA), Reason: "rule \"Desk\" (#2)"}
		}
		h.change(ChangeRequest{Actor: Actor{UserID: 1, Role: "lead"}, RerouteFrom: ptr64(agentB)})
	})
	h.at(4*time.Minute, func() { h.change(ChangeRequest{Actor: asAgent, RerouteFrom: ptr64(agentB)}) })
	h.run(testPolicy(), ticket.PriorityMedium, 10*time.Minute)

	if len(h.routes) != 3 {
		t.Fatalf("routing ran %d times (%+v), want at creation, after the priority change and on reroute", len(h.routes), h.routes)
	}
	if r := h.routes[1]; r.Trigger != lifecycle.RouteChanged || !r.PriorityManual || r.Priority != ticket.PriorityLow {
		t.Errorf("after the priority change: %+v", r)
	}
	r := h.routes[2]
	if r.Trigger != lifecycle.RouteReroute || r.AssigneeManual || r.AssigneeID != nil || len(r.Exclude) != 1 || r.Exclude[0] != agentB {
		t.Errorf("reroute request %+v", r)
	}
	assigned := h.found("assigned")
	if len(assigned) != 3 {
		t.Fatalf("assigned events %+v", assigned)
	}
	if reasonOf(assigned[1].Data) == "" || reasonOf(assigned[2].Data) == "" {
		t.Errorf("reroute events lack reasons: %+v", assigned[1:])
	}
	// The second reroute finds the ticket no longer with agent B: nothing.
	if n := len(h.found("routed")); n != 1 {
		t.Errorf("routed events %d, want 1", n)
	}
}

// reasonOf is the reason a routing decision's event carries.
func reasonOf(p ticket.EventPayload) string {
	switch p := p.(type) {
	case ticket.Routed:
		return p.Reason
	case ticket.PriorityChanged:
		return p.Reason
	case ticket.TeamChanged:
		return p.Reason
	case ticket.Assigned:
		return p.Reason
	}
	return ""
}
