package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Client is the client side of the ticket workflow, the one way the API
// and the email intake start tickets and act on them: Update-with-Start
// and Updates with deterministic IDs (a request repeated by any process —
// a client's retry, an intake restart — reaches the workflow as the same
// Update), and failures as typed errors callers match with errors.As:
//
//   - *ArchivedError: the ticket was closed for good (its workflow ended);
//   - *RejectedError: the workflow refused the request (ErrNotAllowed,
//     ErrInvalid, ErrConflict, ErrForbidden, with their details);
//   - *UnavailableError: no answer in time; repeat with the same IDs.
//
// Anything else (e.g. an activity failing while recording) is returned
// wrapped.
type Client struct {
	Temporal  client.Client
	TaskQueue string
	// Policy is what new tickets' workflows decide with.
	Policy *Policy
}

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
func (c Client) Start(ctx context.Context, number int64, key string, d ticket.Draft) error {
	in := TicketInput{Number: number, Priority: d.Priority, AssigneeID: d.AssigneeID, TeamID: d.TeamID,
		RequesterID: d.RequesterID, CategoryID: d.CategoryID, PriorityManual: d.PrioritySet, Actor: d.Actor, Policy: c.Policy}
	start := c.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       TicketWorkflowID(number),
		TaskQueue:                c.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// A ticket number belongs to one workflow run forever.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         StartSummary(in),
		TypedSearchAttributes: InitialSearchAttributes(in),
	}, TicketWorkflowName, in)
	h, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     CreateUpdateID(key),
			UpdateName:   UpdateCreate,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		var out CreateResult
		err = h.Get(ctx, &out)
	}
	return classify(ctx, number, "create", err)
}

// StartReserved is the one rule for "reserve a ticket number, then start
// its workflow unless the ticket exists", shared by every way a ticket is
// made (the API's creates and follow-ups, mail). fresh is whether this
// request reserved number just now (store.Reservation.New); a number
// reserved before may have its ticket already (an earlier attempt with
// the same key made it), which exists looks up in PostgreSQL: then
// nothing is started and existed is true. Otherwise it is Start.
func (c Client) StartReserved(ctx context.Context, number int64, fresh bool, key string, d ticket.Draft,
	exists func(context.Context, int64) (bool, error)) (existed bool, err error) {
	if !fresh {
		if existed, err = exists(ctx, number); err != nil || existed {
			return existed, err
		}
	}
	return false, c.Start(ctx, number, key, d)
}

// Update sends Update name (UpdateChange, UpdateComment, UpdateAttach)
// with ID id to ticket number's workflow and waits for its result.
func (c Client) Update(ctx context.Context, number int64, name, id string, arg any) (ChangeResult, error) {
	var out ChangeResult
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   TicketWorkflowID(number),
		UpdateID:     id,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &out)
	}
	return out, classify(ctx, number, name, err)
}

// ArchivedError: the ticket was closed for good (its reopen window ended
// and its workflow completed); nothing can change it any more.
type ArchivedError struct {
	Number int64
	Err    error
}

func (e *ArchivedError) Error() string {
	return fmt.Sprintf("ticket #%d is closed for good: %v", e.Number, e.Err)
}
func (e *ArchivedError) Unwrap() error { return e.Err }

// RejectedError: the workflow refused the request (its validator or
// handler); the ticket is unchanged. Kind is one of ErrNotAllowed,
// ErrInvalid, ErrConflict, ErrForbidden (or another non-retryable
// application error type), with the details of its kind.
type RejectedError struct {
	Number  int64
	Kind    string
	Message string
	// NotAllowed is set for ErrNotAllowed (may be nil for old workers).
	NotAllowed *NotAllowedDetails
	// Fields are ErrInvalid's field problems.
	Fields []FieldProblem
	Err    error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("ticket #%d: %s: %s", e.Number, e.Kind, e.Message)
}
func (e *RejectedError) Unwrap() error { return e.Err }

// UnavailableError: the workflow did not answer in time (the worker or the
// server is down or slow). The request may or may not have been applied;
// repeating it with the same IDs gets its one answer.
type UnavailableError struct {
	Number int64
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("ticket #%d: no answer in time: %v", e.Number, e.Err)
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// classify turns what the Temporal client returned into the typed errors
// above; what is none of them comes back wrapped.
func classify(ctx context.Context, number int64, what string, err error) error {
	if err == nil {
		return nil
	}
	var actErr *temporal.ActivityError
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &actErr):
		// Recording failed inside the workflow: a failure, not a refusal.
	case errors.As(err, &appErr) && (appErr.NonRetryable() || contractError(appErr.Type())):
		if appErr.Type() == ErrConflict {
			var reason string
			if appErr.HasDetails() && appErr.Details(&reason) == nil && reason == ticket.ReasonArchived {
				return &ArchivedError{Number: number, Err: err}
			}
		}
		r := &RejectedError{Number: number, Kind: appErr.Type(), Message: appErr.Message(), Err: err}
		switch appErr.Type() {
		case ErrNotAllowed:
			var d NotAllowedDetails
			if appErr.HasDetails() && appErr.Details(&d) == nil {
				r.NotAllowed = &d
			}
		case ErrInvalid:
			if appErr.HasDetails() {
				_ = appErr.Details(&r.Fields)
			}
		}
		return r
	case isNotFound(err):
		// The server answers an Update to a completed workflow with
		// NotFound ("workflow execution already completed"); a ticket's
		// workflow only completes once it is archived.
		return &ArchivedError{Number: number, Err: err}
	case unavailable(ctx, err):
		return &UnavailableError{Number: number, Err: err}
	}
	return fmt.Errorf("ticket #%d: %s: %w", number, what, err)
}

func contractError(kind string) bool {
	switch kind {
	case ErrNotAllowed, ErrInvalid, ErrConflict, ErrForbidden:
		return true
	}
	return false
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// unavailable reports whether err means "no answer in time", as opposed to
// a refusal.
func unavailable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var unavail *serviceerror.Unavailable
	var exhausted *serviceerror.ResourceExhausted
	var deadline *serviceerror.DeadlineExceeded
	return errors.As(err, &unavail) || errors.As(err, &exhausted) || errors.As(err, &deadline)
}
