package workflows

import (
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// (see internal/systemtest, HELPDESK_RECORD_HISTORY) against today's workflow
// code: a change that would break tickets already running fails here. Keep
// old recordings; add one whenever the workflow's shape changes.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(TicketWorkflow, workflow.RegisterOptions{Name: TicketWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// TestReplayCatchesNondeterminism proves the replay test has teeth: the
// same histories replayed against a deliberately changed workflow (an
// extra timer before the real code, as an unpatched edit would add) must
// fail. If this passes silently, TestReplayRecordedHistories proves nothing.
func TestReplayCatchesNondeterminism(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	changed := func(ctx workflow.Context, in TicketInput) error {
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return err
		}
		return TicketWorkflow(ctx, in)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: TicketWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err == nil {
				t.Fatalf("replaying %s against a nondeterministic change succeeded", f)
			}
		})
	}
}
