package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/helpdesk/helpdesk/activities"
)

// OutboxEmailWorkflowName is the workflow type that mails one outbox
// notification.
const OutboxEmailWorkflowName = "OutboxEmail"

// OutboxEmailWorkflowID is the one workflow ID per notification: starting it
// twice (two workers' dispatchers, a restart) is refused by Temporal, so a
// notification is mailed by one workflow.
func OutboxEmailWorkflowID(outboxID int64) string { return fmt.Sprintf("outbox-email-%d", outboxID) }

// outboxEmailBudget is how long a notification keeps being retried (SMTP
// server down, 4xx) before it is recorded as failed.
const outboxEmailBudget = 24 * time.Hour

var mailer *activities.Mailer

// OutboxEmailWorkflow mails outbox notification id, retrying with
// exponential backoff (2 s doubling to 10 min) for up to a day; a permanent
// refusal (5xx) is not retried. Either way the outcome is recorded on the
// outbox row.
func OutboxEmailWorkflow(ctx workflow.Context, id int64) (activities.MailResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    5 * time.Minute,
		ScheduleToCloseTimeout: outboxEmailBudget,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrMailRefused}},
	})
	var res activities.MailResult
	err := workflow.ExecuteActivity(actx, mailer.SendOutboxEmail, id).Get(ctx, &res)
	if err == nil {
		return res, nil
	}
	gctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute}})
	if gerr := workflow.ExecuteActivity(gctx, mailer.GiveUpOutboxEmail, id, err.Error()).Get(ctx, nil); gerr != nil {
		return res, gerr
	}
	return activities.MailResult{State: "failed", Reason: err.Error()}, nil
}
