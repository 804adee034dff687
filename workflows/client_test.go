package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
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
