package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/helpdesk/helpdesk/activities"
	"github.com/helpdesk/helpdesk/internal/audit"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestAuditExportPeriod(t *testing.T) {
	for _, tc := range []struct {
		scheduled string
		interval  time.Duration
		from, to  string
	}{
		{"2026-11-27T00:00:03Z", 24 * time.Hour, "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"},
		{"2026-11-27T00:00:00Z", 24 * time.Hour, "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"},
		{"2026-11-27T23:59:59.999Z", 24 * time.Hour, "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z"},
		{"2026-11-27T01:00:03+02:00", 24 * time.Hour, "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"}, // 23:00 UTC the day before
		{"2026-11-27T10:59:59Z", time.Hour, "2026-11-27T09:00:00Z", "2026-11-27T10:00:00Z"},
		{"2026-11-27T00:07:00Z", 15 * time.Minute, "2026-11-26T23:45:00Z", "2026-11-27T00:00:00Z"},
		// Weeks count from the epoch, a Thursday, as Temporal's intervals do.
		{"2026-11-27T12:00:00Z", 7 * 24 * time.Hour, "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z"},
		{"1969-12-31T12:00:00Z", 24 * time.Hour, "1969-12-30T00:00:00Z", "1969-12-31T00:00:00Z"},
	} {
		from, to := AuditExportPeriod(utc(tc.scheduled), tc.interval)
		if !from.Equal(utc(tc.from)) || !to.Equal(utc(tc.to)) {
			t.Errorf("AuditExportPeriod(%s, %s) = %s..%s, want %s..%s", tc.scheduled, tc.interval, from, to, tc.from, tc.to)
		}
	}
}

// runAuditExport runs the workflow with the activity mocked by export and
// returns the periods it was asked for and when, and the workflow's error.
func runAuditExport(t *testing.T, setup func(*testsuite.TestWorkflowEnvironment), in AuditExportInput, export func(activities.ExportInput) error) ([]activities.ExportInput, []time.Time, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Audit{})
	var calls []activities.ExportInput
	var at []time.Time
	env.OnActivity(auditExports.ExportAuditLog, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExportInput) (activities.ExportResult, error) {
			calls = append(calls, in)
			at = append(at, env.Now().UTC())
			if err := export(in); err != nil {
				return activities.ExportResult{}, err
			}
			return activities.ExportResult{Files: []audit.ExportFile{{Format: audit.FormatCSV, Path: "/x.csv", Rows: 1}}}, nil
		})
	setup(env)
	env.ExecuteWorkflow(AuditExportWorkflow, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	return calls, at, env.GetWorkflowError()
}

func TestAuditExportExportsThePeriodBeforeTheScheduledTime(t *testing.T) {
	scheduled := utc("2026-11-27T00:00:03Z")
	calls, at, err := runAuditExport(t, func(env *testsuite.TestWorkflowEnvironment) {
		// Workers were down for a day: the run starts in the next period,
		// yet must export the one its schedule time ended.
		env.SetStartTime(scheduled.Add(25 * time.Hour))
		if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(AttrScheduledStartTime.ValueSet(scheduled))); err != nil {
			t.Fatal(err)
		}
	}, AuditExportInput{Interval: 24 * time.Hour}, func(activities.ExportInput) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := activities.ExportInput{From: utc("2026-11-26T00:00:00Z"), To: utc("2026-11-27T00:00:00Z")}
	if len(calls) != 1 || !calls[0].From.Equal(want.From) || !calls[0].To.Equal(want.To) {
		t.Fatalf("exported %+v, want once %+v", calls, want)
	}
	// Long past the period's end: nothing to wait for.
	if started := scheduled.Add(25 * time.Hour); at[0].After(started.Add(time.Second)) {
		t.Fatalf("exported at %s, want right after the start at %s", at[0], started)
	}
}

func TestAuditExportStartedByHandUsesNowAndWaitsForLateCommits(t *testing.T) {
	now := utc("2026-11-27T13:00:02Z")
	calls, at, err := runAuditExport(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.SetStartTime(now)
	}, AuditExportInput{Interval: time.Hour}, func(activities.ExportInput) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || !calls[0].From.Equal(utc("2026-11-27T12:00:00Z")) || !calls[0].To.Equal(utc("2026-11-27T13:00:00Z")) {
		t.Fatalf("exported %+v, want 12:00..13:00", calls)
	}
	if settled := calls[0].To.Add(maxExportSettle); at[0].Before(settled) {
		t.Fatalf("exported at %s, before the period's appends settled (%s)", at[0], settled)
	}
}

func TestAuditExportRetriesTransientFailures(t *testing.T) {
	failures := 2
	calls, _, err := runAuditExport(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.SetStartTime(utc("2026-11-27T00:00:03Z"))
	}, AuditExportInput{Interval: 24 * time.Hour}, func(activities.ExportInput) error {
		if failures > 0 {
			failures--
			return errors.New("database is restarting")
		}
		return nil
	})
	if err != nil || len(calls) != 3 {
		t.Fatalf("err %v after %d attempts, want success on the 3rd", err, len(calls))
	}
	for _, c := range calls {
		if c != calls[0] {
			t.Fatalf("retries asked for different periods: %+v", calls)
		}
	}
}

func TestAuditExportGivesUpOnABadPeriod(t *testing.T) {
	calls, _, err := runAuditExport(t, func(env *testsuite.TestWorkflowEnvironment) {
		env.SetStartTime(utc("2026-11-27T00:00:03Z"))
	}, AuditExportInput{Interval: 24 * time.Hour}, func(activities.ExportInput) error {
		return temporal.NewNonRetryableApplicationError("conflict", activities.ErrCodeBadExportPeriod, nil)
	})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrCodeBadExportPeriod || len(calls) != 1 {
		t.Fatalf("err = %v after %d attempts, want %s after one", err, len(calls), activities.ErrCodeBadExportPeriod)
	}
	_, _, err = runAuditExport(t, func(*testsuite.TestWorkflowEnvironment) {}, AuditExportInput{}, func(activities.ExportInput) error {
		t.Error("exported without an interval")
		return nil
	})
	if err == nil {
		t.Fatal("a zero interval was accepted")
	}
}

// scheduleClient is a mocked client whose schedule client is sc.
func scheduleClient(t *testing.T) (*mocks.Client, *mocks.ScheduleClient) {
	c := mocks.NewClient(t)
	sc := mocks.NewScheduleClient(t)
	c.On("ScheduleClient").Return(sc)
	return c, sc
}

func TestEnsureAuditExportScheduleCreates(t *testing.T) {
	c, sc := scheduleClient(t)
	var got client.ScheduleOptions
	sc.On("Create", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		got = args.Get(1).(client.ScheduleOptions)
	}).Return(mocks.NewScheduleHandle(t), nil)
	if err := EnsureAuditExportSchedule(context.Background(), c, "helpdesk", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	a, ok := got.Action.(*client.ScheduleWorkflowAction)
	if got.ID != AuditExportScheduleID || got.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP ||
		len(got.Spec.Intervals) != 1 || got.Spec.Intervals[0].Every != 24*time.Hour ||
		!ok || a.Workflow != AuditExportWorkflowName || a.TaskQueue != "helpdesk" ||
		len(a.Args) != 1 || a.Args[0] != (AuditExportInput{Interval: 24 * time.Hour}) {
		t.Fatalf("created %+v (action %+v)", got, got.Action)
	}
}

func TestEnsureAuditExportScheduleUpdatesOnlyAChangedInterval(t *testing.T) {
	// described is the schedule as the server describes it: arguments as
	// payloads, the workflow by name.
	described := func(every time.Duration) client.ScheduleDescription {
		p, err := converter.GetDefaultDataConverter().ToPayload(AuditExportInput{Interval: every})
		if err != nil {
			t.Fatal(err)
		}
		return client.ScheduleDescription{Schedule: client.Schedule{
			Spec:   &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
			Action: &client.ScheduleWorkflowAction{ID: AuditExportScheduleID, Workflow: AuditExportWorkflowName, Args: []any{p}, TaskQueue: "helpdesk"},
			Policy: &client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP},
			State:  &client.ScheduleState{Note: "kept"},
		}}
	}
	for _, tc := range []struct {
		name    string
		current time.Duration
		update  bool
	}{
		{"same interval", time.Hour, false},
		{"new interval", 24 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, sc := scheduleClient(t)
			sc.On("Create", mock.Anything, mock.Anything).Return(nil, temporal.ErrScheduleAlreadyRunning)
			h := mocks.NewScheduleHandle(t)
			sc.On("GetHandle", mock.Anything, AuditExportScheduleID).Return(h)
			var upd *client.ScheduleUpdate
			var updErr error
			h.On("Update", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
				opts := args.Get(1).(client.ScheduleUpdateOptions)
				upd, updErr = opts.DoUpdate(client.ScheduleUpdateInput{Description: described(tc.current)})
			}).Return(nil)

			if err := EnsureAuditExportSchedule(context.Background(), c, "helpdesk", time.Hour); err != nil {
				t.Fatal(err)
			}
			if !tc.update {
				if !errors.Is(updErr, temporal.ErrSkipScheduleUpdate) {
					t.Fatalf("update = %+v, %v; want it skipped", upd, updErr)
				}
				return
			}
			if updErr != nil || upd == nil {
				t.Fatalf("update = %+v, %v", upd, updErr)
			}
			s := upd.Schedule
			a := s.Action.(*client.ScheduleWorkflowAction)
			if s.Spec.Intervals[0].Every != time.Hour || a.Args[0] != (AuditExportInput{Interval: time.Hour}) || s.State.Note != "kept" {
				t.Fatalf("updated to %+v (action %+v)", s, a)
			}
		})
	}
}
