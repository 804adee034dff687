package lifecycle

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// TestResolveNeedsRequiredFields: the rule "a ticket is resolved or
// closed only with the custom fields required to resolve it" is the
// planner's, so a change from any caller (API, bulk action, mail, a
// timer) obeys it; the facts come from the store.
func TestResolveNeedsRequiredFields(t *testing.T) {
	printers, laser := int64(2), int64(5)
	fields := []catalog.Field{
		{Key: "pages", Type: catalog.TypeNumber, RequiredToResolve: true, CategoryIDs: []int64{printers}},
		{Key: "cause", Type: catalog.TypeText, RequiredToResolve: true},
	}
	agent := Actor{UserID: 200, Role: ticket.RoleAgent}
	to := func(s ticket.Status) *ticket.Status { return &s }
	for _, c := range []struct {
		name   string
		status ticket.Status
		req    ChangeRequest
		facts  *ResolveFacts
		want   string // field problems, "" for a plan
	}{
		{"both missing under printers", ticket.StatusOpen, ChangeRequest{Status: to(ticket.StatusResolved)},
			&ResolveFacts{Fields: fields, Path: []int64{laser, printers}}, "custom_fields.pages,custom_fields.cause"},
		{"closing needs them too", ticket.StatusInProgress, ChangeRequest{Status: to(ticket.StatusClosed)},
			&ResolveFacts{Fields: fields, Path: []int64{laser, printers}, Values: catalog.Values{"cause": "toner"}}, "custom_fields.pages"},
		{"a field of another category does not apply", ticket.StatusOpen, ChangeRequest{Status: to(ticket.StatusResolved)},
			&ResolveFacts{Fields: fields, Path: []int64{9}, Values: catalog.Values{"cause": "user"}}, ""},
		{"an empty list is no value", ticket.StatusOpen, ChangeRequest{Status: to(ticket.StatusResolved)},
			&ResolveFacts{Fields: fields, Values: catalog.Values{"cause": []any{}}}, "custom_fields.cause"},
		{"values present", ticket.StatusOpen, ChangeRequest{Status: to(ticket.StatusResolved)},
			&ResolveFacts{Fields: fields, Path: []int64{printers}, Values: catalog.Values{"pages": 1200.0, "cause": "jam"}}, ""},
		{"not resolving: the rule does not apply", ticket.StatusOpen, ChangeRequest{Status: to(ticket.StatusPending)},
			&ResolveFacts{Fields: fields, Path: []int64{printers}}, ""},
		{"already resolved: no move, no rule", ticket.StatusResolved, ChangeRequest{Status: to(ticket.StatusResolved)},
			&ResolveFacts{Fields: fields}, ""},
		{"facts unknown (validator): left to the plan with facts", ticket.StatusOpen, ChangeRequest{Status: to(ticket.StatusResolved)},
			nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := State{Number: 7, Status: c.status, Priority: ticket.PriorityMedium, Seq: 3, CreatedAt: t0, Persisted: true,
				Fired: map[string]bool{}, BreachedAt: map[Clock]time.Time{}}
			c.req.Actor = agent
			p, err := PlanChange(st, Policy{Transitions: ticket.DefaultTransitions()}, sla.AlwaysOpen(), c.req, c.facts, t0.Add(time.Hour))
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if c.req.Status != nil && *c.req.Status != c.status && p.State.Status != *c.req.Status {
					t.Errorf("status %s, want %s", p.State.Status, *c.req.Status)
				}
				return
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != ErrInvalid {
				t.Fatalf("got %v, want an %s rejection naming %s", err, ErrInvalid, c.want)
			}
			var probs []FieldProblem
			if err := appErr.Details(&probs); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.Field)
				if p.Detail != "is required to resolve the ticket" {
					t.Errorf("%s: detail %q", p.Field, p.Detail)
				}
			}
			if strings.Join(got, ",") != c.want {
				t.Errorf("fields %v, want %s", got, c.want)
			}
		})
	}
}
