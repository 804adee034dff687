package api

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// The parse tests play the outsider who controls a request: every body or
// query is parsed without any service, and each case lists the field
// errors the answer would carry ("field: detail", in order), or the
// problem a body that is no JSON object gets.

// answer is what a client is told about a request body: the problem's
// status and detail when the body is refused as a whole, otherwise its
// field errors.
func answer(t *testing.T, errs []FieldError, err error) []string {
	t.Helper()
	if err != nil {
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("error %v is not a problem", err)
		}
		out := []string{fmt.Sprintf("%d %s", p.Status, p.Detail)}
		for _, e := range p.Errors {
			out = append(out, e.Field+": "+e.Detail)
		}
		return out
	}
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field+": "+e.Detail)
	}
	return out
}

func check(t *testing.T, body string, got, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s\n got  %q\n want %q", body, got, want)
	}
}

// parseError is the error text f gives v.
func parseError(f func(string) error, v string) string { return f(v).Error() }

func statusError(v string) error   { _, err := ticket.ParseStatus(v); return err }
func priorityError(v string) error { _, err := ticket.ParsePriority(v); return err }
