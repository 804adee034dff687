// Package ticketflow holds the client side of the ticket workflow that more
// than one process type needs: the API and the email intake both create
// tickets with Update-with-Start and act on them through Updates, with the
// same deterministic IDs, so a request repeated by any of them (a client's
// retry, an intake restart) reaches the workflow as the same Update.
package ticketflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

// HashID keeps Temporal IDs short and free of client-chosen characters.
func HashID(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:12])
}

// CreateUpdateID is the create Update's ID for a reservation key.
func CreateUpdateID(key string) string { return "create-" + HashID(key) }

// Start runs Update-with-Start on ticket number's workflow and waits until
// the create Update completes (the ticket is in PostgreSQL). The number was
// reserved under key (store.ReserveTicketNumber) with d as its payload; a
// repeat with the same key is the same Update and returns its first answer.
func Start(ctx context.Context, tc client.Client, taskQueue string, policy *workflows.Policy, number int64, key string, d ticket.Draft) error {
	in := workflows.TicketInput{Number: number, Priority: d.Priority, AssigneeID: d.AssigneeID, TeamID: d.TeamID,
		RequesterID: d.RequesterID, CategoryID: d.CategoryID, PriorityManual: d.PrioritySet, Actor: d.Actor, Policy: policy}
	start := tc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       workflows.TicketWorkflowID(number),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// A ticket number belongs to one workflow run forever.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         workflows.StartSummary(in),
		TypedSearchAttributes: workflows.InitialSearchAttributes(in),
	}, workflows.TicketWorkflowName, in)
	h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     CreateUpdateID(key),
			UpdateName:   workflows.UpdateCreate,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return err
	}
	var out workflows.CreateResult
	return h.Get(ctx, &out)
}

// Update sends Update name with ID id to ticket number's workflow and waits
// for its result. Rejections come back as *temporal.ApplicationError with
// the types in workflows (ErrNotAllowed, ErrConflict, …).
func Update(ctx context.Context, tc client.Client, number int64, name, id string, arg any) (workflows.ChangeResult, error) {
	var out workflows.ChangeResult
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.TicketWorkflowID(number),
		UpdateID:     id,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &out)
	}
	return out, err
}

// Unavailable reports whether err means "no answer in time" (the worker or
// the server is down or slow), as opposed to a rejection: the request may be
// repeated with the same IDs.
func Unavailable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var unavail *serviceerror.Unavailable
	var exhausted *serviceerror.ResourceExhausted
	var deadline *serviceerror.DeadlineExceeded
	return errors.As(err, &unavail) || errors.As(err, &exhausted) || errors.As(err, &deadline)
}
