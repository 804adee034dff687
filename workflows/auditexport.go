package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
)

// Names of the audit log export, run by a Temporal schedule.
const (
	// AuditExportWorkflowName is the registered workflow type.
	AuditExportWorkflowName = "AuditExport"
	// AuditExportScheduleID names the schedule that starts it.
	AuditExportScheduleID = "audit-export"
)

// AttrScheduledStartTime is set by Temporal on workflows a schedule starts:
// the time the action was scheduled for.
var AttrScheduledStartTime = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// AuditExportInput is the schedule's argument to every run.
type AuditExportInput struct {
	// Interval is the schedule's interval and the length of each period.
	Interval time.Duration
}

// maxExportSettle bounds how long a run waits past its period's end before
// exporting: an append takes its time just before its one-statement
// transaction, so it commits a moment later.
const maxExportSettle = time.Minute

var auditExports *activities.Audit

// AuditExportWorkflow exports the last complete period before the time the
// schedule fired: [end-Interval, end) with end the scheduled time
// truncated to the Interval (counted from the Unix epoch, as Temporal
// counts interval schedules). A run started by hand exports the period
// before now.
func AuditExportWorkflow(ctx workflow.Context, in AuditExportInput) error {
	if in.Interval <= 0 {
		return temporal.NewNonRetryableApplicationError("audit export interval must be positive", "InvalidInput", nil)
	}
	scheduled := workflow.Now(ctx)
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(AttrScheduledStartTime); ok && !t.IsZero() {
		scheduled = t
	}
	from, to := AuditExportPeriod(scheduled, in.Interval)
	if wait := to.Add(exportSettle(in.Interval)).Sub(workflow.Now(ctx)); wait > 0 {
		if err := workflow.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	// Retry until shortly before the next run would be due: with the
	// overlap policy "skip", a run still retrying then would cost the next
	// period its export.
	budget := in.Interval * 8 / 10
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: budget,
		StartToCloseTimeout:    min(time.Hour, budget),
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute},
	})
	var res activities.ExportResult
	if err := workflow.ExecuteActivity(actx, auditExports.ExportAuditLog, activities.ExportInput{From: from, To: to}).Get(ctx, &res); err != nil {
		return err
	}
	for _, f := range res.Files {
		workflow.GetLogger(ctx).Info("audit log exported", "from", from, "to", to, "format", f.Format, "path", f.Path, "rows", f.Rows)
	}
	return nil
}

// AuditExportPeriod is the last complete interval before scheduled, with
// intervals aligned to the Unix epoch: [to-interval, to).
func AuditExportPeriod(scheduled time.Time, interval time.Duration) (from, to time.Time) {
	epoch := time.Unix(0, 0).UTC()
	since := scheduled.Sub(epoch)
	n := since / interval
	if since%interval < 0 {
		n-- // floor, before 1970
	}
	to = epoch.Add(n * interval)
	return to.Add(-interval), to
}

// exportSettle is how long a run waits past its period's end: a minute, or
// a tenth of shorter intervals.
func exportSettle(interval time.Duration) time.Duration {
	return min(maxExportSettle, interval/10)
}

// EnsureAuditExportSchedule creates the schedule that starts
// AuditExportWorkflow every interval on taskQueue, skipping a run while the
// previous one is still going. If the schedule exists with another
// interval, task queue or workflow, it is updated; otherwise left alone.
func EnsureAuditExportSchedule(ctx context.Context, c client.Client, taskQueue string, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("workflows: audit export schedule: interval %s must be positive", interval)
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: interval}}}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      AuditExportScheduleID,
		Spec:    spec,
		Action:  auditExportAction(taskQueue, interval),
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("workflows: create audit export schedule: %w", err)
	}
	err = c.ScheduleClient().GetHandle(ctx, AuditExportScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			if auditExportScheduleIs(s, taskQueue, interval) {
				return nil, temporal.ErrSkipScheduleUpdate
			}
			s.Spec = &spec
			s.Action = auditExportAction(taskQueue, interval)
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("workflows: update audit export schedule: %w", err)
	}
	return nil
}

func auditExportAction(taskQueue string, interval time.Duration) *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:        AuditExportScheduleID, // the schedule appends the scheduled time
		Workflow:  AuditExportWorkflowName,
		Args:      []any{AuditExportInput{Interval: interval}},
		TaskQueue: taskQueue,
	}
}

// auditExportScheduleIs reports whether a described schedule already runs
// the export every interval on taskQueue.
func auditExportScheduleIs(s client.Schedule, taskQueue string, interval time.Duration) bool {
	if s.Spec == nil || len(s.Spec.Intervals) != 1 || s.Spec.Intervals[0] != (client.ScheduleIntervalSpec{Every: interval}) ||
		len(s.Spec.Calendars) > 0 || len(s.Spec.CronExpressions) > 0 {
		return false
	}
	if s.Policy == nil || (s.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP && s.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED) {
		return false
	}
	a, ok := s.Action.(*client.ScheduleWorkflowAction)
	if !ok || a.TaskQueue != taskQueue || a.Workflow != AuditExportWorkflowName || len(a.Args) != 1 {
		return false
	}
	// Described arguments are payloads; one the default converter cannot
	// read (say, encrypted by a codec) counts as different and is rewritten.
	var in AuditExportInput
	switch arg := a.Args[0].(type) {
	case AuditExportInput:
		in = arg
	case *commonpb.Payload:
		if err := converter.GetDefaultDataConverter().FromPayload(arg, &in); err != nil {
			return false
		}
	default:
		return false
	}
	return in.Interval == interval
}
