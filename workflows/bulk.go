package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/bulk"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
)

// A bulk action applies one person's change and/or comment to a set of
// tickets (internal/bulk; POST /bulk). Temporal's own batch operations
// cannot send Updates, so a workflow of its own does it: resolve the set
// once, then page through it, each ticket's workflow getting its Updates
// with IDs derived from the job and the ticket. The job's state lives in
// PostgreSQL (bulk_jobs, bulk_items); this workflow only sequences.

// BulkWorkflowName is the registered workflow type.
const BulkWorkflowName = "Bulk"

// BulkWorkflowID is the one workflow of bulk job id.
func BulkWorkflowID(id string) string { return "bulk-" + id }

// BulkInput starts (or continues as new) a job's workflow.
type BulkInput struct {
	JobID string
	// Snapshotted: the set is resolved (a run continued as new).
	Snapshotted bool
}

// bulkPagesPerRun continues a run as new after this many pages (each
// page is a few history events), besides whenever the server suggests it.
const bulkPagesPerRun = 500

var bulkActs *activities.Bulk

// BulkWorkflow runs job in.JobID to its end: completed, cancelled, or
// failed when its set could not be resolved or its owner is gone.
func BulkWorkflow(ctx workflow.Context, in BulkInput) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		// A page heartbeats every few seconds: a worker killed mid-page is
		// noticed soon and the page runs again elsewhere (its Updates
		// answered once by each ticket's workflow).
		HeartbeatTimeout: 10 * time.Second,
		// The database or Temporal may be down for a while: keep trying.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrBulkRefused}},
	})
	finish := func(state string, cause error) error {
		in := activities.FinishBulkInput{ID: in.JobID, State: state}
		if cause != nil {
			in.Error = refusalMessage(cause)
		}
		return workflow.ExecuteActivity(actx, bulkActs.FinishBulk, in).Get(ctx, nil)
	}
	if !in.Snapshotted {
		if err := workflow.ExecuteActivity(actx, bulkActs.SnapshotBulk, in.JobID).Get(ctx, nil); err != nil {
			if refused(err) {
				return finish(bulk.StateFailed, err)
			}
			return err
		}
	}
	for pages := 0; ; pages++ {
		info := workflow.GetInfo(ctx)
		if pages >= bulkPagesPerRun || info.GetContinueAsNewSuggested() {
			return workflow.NewContinueAsNewError(ctx, BulkWorkflowName, BulkInput{JobID: in.JobID, Snapshotted: true})
		}
		var page activities.BulkPage
		if err := workflow.ExecuteActivity(actx, bulkActs.RunBulkPage, in.JobID).Get(ctx, &page); err != nil {
			if refused(err) {
				return finish(bulk.StateFailed, err)
			}
			return err
		}
		switch {
		case page.Cancelled:
			return finish(bulk.StateCancelled, nil)
		case !page.More:
			return finish(bulk.StateCompleted, nil)
		}
	}
}

// refused reports whether an activity refused the job (ErrBulkRefused).
func refused(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrBulkRefused
}

// refusalMessage is the refusal's own message, without the activity
// error's wrapping.
func refusalMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// StartBulk starts job id's workflow; a job whose workflow runs or ran
// (a repeated request) is not started again, unless that run failed (its
// job was not there: the first request could not start it and removed it).
func (c Client) StartBulk(ctx context.Context, id string) error {
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    BulkWorkflowID(id),
		TaskQueue:             c.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		StaticSummary:         "Bulk action " + id,
	}, BulkWorkflowName, BulkInput{JobID: id})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("workflows: start bulk job %s: %w", id, err)
	}
	return nil
}

// BulkUpdates is the Client as the bulk activities send tickets their
// Updates (activities.TicketUpdates).
type BulkUpdates struct{ Client }

// Change sends the change Update under the request's ID.
func (b BulkUpdates) Change(ctx context.Context, number int64, req lifecycle.ChangeRequest) error {
	_, err := b.Update(ctx, number, UpdateChange, req.RequestID, req)
	return err
}

// Comment sends the comment Update under the request's ID.
func (b BulkUpdates) Comment(ctx context.Context, number int64, req lifecycle.CommentRequest) error {
	_, err := b.Update(ctx, number, UpdateComment, req.RequestID, req)
	return err
}

// Refused maps the Client's typed errors to a bulk failure: the ticket
// closed for good is archived, a refusal by its workflow its reason;
// anything else (no answer in time, a failure to record) is not a
// refusal.
func (BulkUpdates) Refused(err error) (bulk.Failure, bool) {
	var archived *ArchivedError
	var rejected *RejectedError
	switch {
	case errors.As(err, &archived):
		return bulk.Failure{Reason: bulk.ReasonArchived,
			Detail: fmt.Sprintf("ticket #%d was closed for good: its reopen window has ended", archived.Number)}, true
	case errors.As(err, &rejected):
		return bulk.Refusal(rejected.Kind, rejected.Message, rejected.Fields), true
	}
	return bulk.Failure{}, false
}
