package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/bulk"
)

// runBulk runs the bulk workflow with its activities answered by snapshot
// and pages (one answer per page, in order) and returns how it finished
// the job, how many pages it asked for, and the workflow's error.
func runBulk(t *testing.T, in BulkInput, snapshot error, pages []activities.BulkPage) (finished activities.FinishBulkInput, asked int, err error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Bulk{})
	snapshots := 0
	env.OnActivity(bulkActs.SnapshotBulk, mock.Anything, mock.Anything).Return(func(_ context.Context, id string) (int, error) {
		snapshots++
		return 10, snapshot
	})
	env.OnActivity(bulkActs.RunBulkPage, mock.Anything, mock.Anything).Return(func(_ context.Context, id string) (activities.BulkPage, error) {
		if asked >= len(pages) {
			return activities.BulkPage{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("page %d asked for; %d planned", asked+1, len(pages)), "TooManyPages", nil)
		}
		asked++
		return pages[asked-1], nil
	})
	env.OnActivity(bulkActs.FinishBulk, mock.Anything, mock.Anything).Return(func(_ context.Context, f activities.FinishBulkInput) error {
		finished = f
		return nil
	})
	env.ExecuteWorkflow(BulkWorkflow, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("the workflow did not complete")
	}
	want := 1
	if in.Snapshotted {
		want = 0
	}
	if snapshots != want {
		t.Errorf("%d snapshots, want %d", snapshots, want)
	}
	return finished, asked, env.GetWorkflowError()
}

func TestBulkWorkflowRunsPagesToTheEnd(t *testing.T) {
	more := activities.BulkPage{Processed: 128, More: true}
	f, asked, err := runBulk(t, BulkInput{JobID: "j"}, nil, []activities.BulkPage{more, more, {Processed: 3}})
	if err != nil || asked != 3 || f != (activities.FinishBulkInput{ID: "j", State: bulk.StateCompleted}) {
		t.Errorf("finished %+v after %d pages (%v)", f, asked, err)
	}
}

func TestBulkWorkflowStopsWhenCancelled(t *testing.T) {
	f, asked, err := runBulk(t, BulkInput{JobID: "j"}, nil, []activities.BulkPage{{Processed: 128, More: true}, {Processed: 5, Cancelled: true}})
	if err != nil || asked != 2 || f.State != bulk.StateCancelled {
		t.Errorf("finished %+v after %d pages (%v)", f, asked, err)
	}
}

// A job that cannot run (too many tickets, its owner gone) fails with the
// activity's own message, without retries.
func TestBulkWorkflowFailsARefusedJob(t *testing.T) {
	const msg = "the query matches more than 10 tickets (bulk_max_tickets); narrow it"
	refusal := temporal.NewNonRetryableApplicationError(msg, activities.ErrBulkRefused, nil)
	f, asked, err := runBulk(t, BulkInput{JobID: "j"}, refusal, nil)
	if err != nil || asked != 0 || f.State != bulk.StateFailed || f.Error != msg {
		t.Errorf("finished %+v after %d pages (%v)", f, asked, err)
	}
}

// Long jobs continue as new, without resolving their set again.
func TestBulkWorkflowContinuesAsNew(t *testing.T) {
	pages := make([]activities.BulkPage, bulkPagesPerRun)
	for i := range pages {
		pages[i] = activities.BulkPage{Processed: 1, More: true}
	}
	_, asked, err := runBulk(t, BulkInput{JobID: "j"}, nil, pages)
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) || asked != bulkPagesPerRun {
		t.Fatalf("after %d pages: %v", asked, err)
	}
	var next BulkInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next != (BulkInput{JobID: "j", Snapshotted: true}) {
		t.Errorf("continues as %+v", next)
	}
	f, asked, err := runBulk(t, next, nil, []activities.BulkPage{{Processed: 1}})
	if err != nil || asked != 1 || f.State != bulk.StateCompleted {
		t.Errorf("the next run finished %+v after %d pages (%v)", f, asked, err)
	}
}
