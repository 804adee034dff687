package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Callers tell archived, rejected and late apart with errors.As, never by
// an error's text (issue 19): what the Temporal client returns for each
// case maps to exactly one typed error.
func TestClassifyGivesTypedErrors(t *testing.T) {
	notAllowed := temporal.NewNonRetryableApplicationError("cannot move", ErrNotAllowed, nil,
		NotAllowedDetails{From: "closed", To: "pending", Allowed: []string{"open"}})
	invalidErr := temporal.NewNonRetryableApplicationError("bad fields", ErrInvalid, nil,
		[]FieldProblem{{Field: "priority", Detail: "unknown"}})
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want string // archived, rejected:<kind>, unavailable, other
	}{
		{"closed for good (the workflow says so)", context.Background(),
			temporal.NewNonRetryableApplicationError("closed", ErrConflict, nil, "archived"), "archived"},
		{"workflow completed (the server says so)", context.Background(),
			fmt.Errorf("update: %w", serviceerror.NewNotFound("workflow execution already completed")), "archived"},
		{"transition not allowed", context.Background(), notAllowed, "rejected:NotAllowed"},
		{"invalid", context.Background(), invalidErr, "rejected:Invalid"},
		{"conflict", context.Background(), temporal.NewNonRetryableApplicationError("taken", ErrConflict, nil, "claimed"), "rejected:Conflict"},
		{"forbidden", context.Background(), temporal.NewNonRetryableApplicationError("no", ErrForbidden, nil), "rejected:Forbidden"},
		{"deadline", expired, context.Canceled, "unavailable"},
		{"server unavailable", context.Background(), serviceerror.NewUnavailable("down"), "unavailable"},
		{"recording failed in an activity", context.Background(), fmt.Errorf("x: %w", &temporal.ActivityError{}), "other"},
		// Text that merely looks like "completed" is not trusted.
		{"text only", context.Background(), errors.New("workflow execution already completed"), "other"},
	} {
		err := classify(tc.ctx, 7, "change", tc.err)
		var a *ArchivedError
		var r *RejectedError
		var u *UnavailableError
		got := "other"
		switch {
		case errors.As(err, &a):
			got = "archived"
		case errors.As(err, &r):
			got = "rejected:" + r.Kind
		case errors.As(err, &u):
			got = "unavailable"
		}
		if got != tc.want {
			t.Errorf("%s: %v classified %s, want %s", tc.name, err, got, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: the typed error does not wrap the original", tc.name)
		}
	}
	var r *RejectedError
	if err := classify(context.Background(), 7, "change", notAllowed); !errors.As(err, &r) || r.NotAllowed == nil ||
		r.NotAllowed.From != "closed" || fmt.Sprint(r.NotAllowed.Allowed) != "[open]" {
		t.Errorf("not-allowed details lost: %+v", r)
	}
	if err := classify(context.Background(), 7, "change", invalidErr); !errors.As(err, &r) || len(r.Fields) != 1 || r.Fields[0].Field != "priority" {
		t.Errorf("field problems lost: %+v", r)
	}
	if classify(context.Background(), 7, "change", nil) != nil {
		t.Error("no error classified as one")
	}
}

// startRecorder is a Temporal client that records Update-with-Start calls
// and answers each with errStarted.
type startRecorder struct {
	client.Client
	ids []string
}

var errStarted = errors.New("started")

func (r *startRecorder) NewWithStartWorkflowOperation(o client.StartWorkflowOptions, _ any, _ ...any) client.WithStartWorkflowOperation {
	r.ids = append(r.ids, o.ID)
	return nil
}

func (r *startRecorder) UpdateWithStartWorkflow(context.Context, client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, errStarted
}

// A number reserved just now is started without a lookup; one reserved
// before is started only when its ticket is missing, so a retry or an
// intake restart never starts a second workflow for a ticket that exists.
func TestStartReservedStartsOnlyMissingTickets(t *testing.T) {
	lookupFailed := errors.New("lookup failed")
	for _, tc := range []struct {
		name         string
		fresh        bool
		exists       bool
		lookupErr    error
		wantLookups  int
		wantStarted  bool
		wantExisted  bool
		wantErrWraps error
	}{
		{"reserved just now", true, false, nil, 0, true, false, errStarted},
		{"reserved before, ticket made", false, true, nil, 1, false, true, nil},
		{"reserved before, ticket missing", false, false, nil, 1, true, false, errStarted},
		{"reserved before, lookup fails", false, false, lookupFailed, 1, false, false, lookupFailed},
	} {
		rec := &startRecorder{}
		lookups := 0
		exists := func(_ context.Context, n int64) (bool, error) {
			lookups++
			if n != 41 {
				t.Errorf("%s: looked up ticket %d", tc.name, n)
			}
			return tc.exists, tc.lookupErr
		}
		c := Client{Temporal: rec, TaskQueue: "q", Policy: &Policy{}}
		existed, err := c.StartReserved(context.Background(), 41, tc.fresh, "key", ticket.Draft{Subject: "s"}, exists)
		if lookups != tc.wantLookups || (len(rec.ids) > 0) != tc.wantStarted || existed != tc.wantExisted {
			t.Errorf("%s: %d lookups, started %v, existed %v", tc.name, lookups, rec.ids, existed)
		}
		if tc.wantStarted && (len(rec.ids) != 1 || rec.ids[0] != TicketWorkflowID(41)) {
			t.Errorf("%s: started %v, want once as %s", tc.name, rec.ids, TicketWorkflowID(41))
		}
		if (err == nil) != (tc.wantErrWraps == nil) || tc.wantErrWraps != nil && !errors.Is(err, tc.wantErrWraps) {
			t.Errorf("%s: error %v, want one wrapping %v", tc.name, err, tc.wantErrWraps)
		}
	}
}
