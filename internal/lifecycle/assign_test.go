package lifecycle

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// TestAssignmentRule: who may give a ticket to whom, decided by the
// planner against the assignee the ticket has when the change applies
// (an agent cannot take a ticket someone grabbed a moment earlier by
// racing the check), with the rights the access policy grants the role.
func TestAssignmentRule(t *testing.T) {
	me, other, third := int64(200), int64(201), int64(202)
	agent := AssignRights{Assign: true}
	lead := AssignRights{Assign: true, Reassign: true}
	none := AssignRights{}
	for _, c := range []struct {
		name    string
		current *int64
		to      *int64
		rights  *AssignRights
		refused string // "" allowed, else the rejection's details
	}{
		{"take an unassigned ticket yourself", nil, &me, &none, ""},
		{"release your own", &me, nil, &none, ""},
		{"give an unassigned ticket to a colleague", nil, &other, &agent, ""},
		{"give it to a colleague without the right", nil, &other, &none, "assign"},
		{"take a colleague's ticket", &other, &me, &agent, "reassign"},
		{"unassign a colleague's ticket", &other, nil, &agent, "reassign"},
		{"move a colleague's ticket to a third", &other, &third, &agent, "reassign"},
		{"a lead moves a colleague's ticket", &other, &third, &lead, ""},
		{"no change is no act", &other, &other, &none, ""},
		{"requests from before the rule moved here", &other, &me, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := State{Number: 9, Status: ticket.StatusOpen, Priority: ticket.PriorityMedium, AssigneeID: c.current, Seq: 2,
				CreatedAt: t0, Persisted: true, Fired: map[string]bool{}, BreachedAt: map[Clock]time.Time{}}
			req := ChangeRequest{Actor: Actor{UserID: me, Role: ticket.RoleAgent}, Assignee: &IDChange{ID: c.to}, Rights: c.rights}
			p, err := PlanChange(st, Policy{Transitions: ticket.DefaultTransitions()}, sla.AlwaysOpen(), req, nil, t0)
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !SameID(p.State.AssigneeID, c.to) {
					t.Errorf("assignee %v, want %v", p.State.AssigneeID, c.to)
				}
				return
			}
			var appErr *temporal.ApplicationError
			var details string
			if !errors.As(err, &appErr) || appErr.Type() != ErrForbidden || appErr.Details(&details) != nil || details != c.refused {
				t.Fatalf("got %v (%q), want a Forbidden rejection (%s)", err, details, c.refused)
			}
		})
	}
}
