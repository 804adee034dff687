package worker

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/helpdesk/helpdesk/workflows"
)

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
