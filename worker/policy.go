package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

// PolicyFromConfig builds the Policy new tickets start with, the one
// place that turns configuration into what workflows decide with (the
// API, the intake and `helpdesk policy apply` all use it; workflows/ does
// not read configuration). The config was validated at load, so this
// cannot fail.
func PolicyFromConfig(c config.Config) workflows.Policy {
	p := workflows.Policy{
		Transitions:      c.StatusTransitions,
		SLA:              map[ticket.Priority]workflows.SLATargets{},
		Calendar:         c.BusinessCalendar,
		Escalation:       c.EnableEscalation,
		ExpireAfter:      time.Duration(c.TicketExpirationDays) * 24 * time.Hour,
		ExpiryAction:     c.ExpiryAction,
		AutoCloseAfter:   c.AutoCloseAfter.D(),
		ReopenWindow:     c.ReopenWindow.D(),
		MaxHistoryEvents: c.WorkflowMaxHistoryEvents,
	}
	for name, t := range c.SLAPolicies {
		p.SLA[ticket.Priority(name)] = workflows.SLATargets{FirstResponse: t.FirstResponse.D(), Resolution: t.Resolution.D()}
	}
	for _, r := range c.EscalationRules {
		action := workflows.Escalation{Level: r.Level, RaisePriority: r.RaisePriority, TeamID: r.TeamID}
		if r.Clock != "" {
			p.TimeRules = append(p.TimeRules, workflows.TimeRule{Name: r.Name, Clock: workflows.Clock(r.Clock), Percent: r.Percent, After: r.After.D(), Action: action})
		} else {
			p.AttemptRules = append(p.AttemptRules, workflows.AttemptRule{Name: r.Name, Kind: r.Attempt, Count: r.Count, Action: action})
		}
	}
	return p
}

// ApplyPolicy sends p to every running ticket workflow, which recomputes
// its deadlines at once (new SLA targets, calendar, escalation rules).
// New tickets take the policy from the configuration they are created
// under; this brings the tickets already open in line. It returns how many
// tickets were signalled. Tickets that finish meanwhile are skipped.
// filter, when not empty, narrows the tickets with more visibility query
// (e.g. `TicketPriority = "high"`).
func ApplyPolicy(ctx context.Context, c client.Client, namespace string, p workflows.Policy, filter string) (int, error) {
	query := fmt.Sprintf("WorkflowType = %q AND ExecutionStatus = 'Running'", workflows.TicketWorkflowName)
	if filter != "" {
		query += " AND (" + filter + ")"
	}
	var token []byte
	n := 0
	for {
		res, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, PageSize: 500, NextPageToken: token,
		})
		if err != nil {
			return n, fmt.Errorf("list running tickets: %w", err)
		}
		for _, e := range res.Executions {
			err := c.SignalWorkflow(ctx, e.Execution.WorkflowId, "", workflows.SignalPolicy, p)
			var nf *serviceerror.NotFound
			if err != nil && !errors.As(err, &nf) {
				return n, fmt.Errorf("signal %s: %w", e.Execution.WorkflowId, err)
			}
			if err == nil {
				n++
			}
		}
		token = res.NextPageToken
		if len(token) == 0 {
			return n, nil
		}
	}
}
