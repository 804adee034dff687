package bulk

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

func id(n int64) *int64 { return &n }

// TestPlan: what a bulk action sends one ticket is what the person could
// do to it by hand: nothing to a ticket they cannot see (told apart from
// a missing one by nothing), nothing their role may not do, nothing to a
// ticket closed for good; of the change, only what differs from the
// ticket; the assignment rights go with an assignee; a comment always.
func TestPlan(t *testing.T) {
	agent := lifecycle.Actor{UserID: 7, Role: ticket.RoleAgent, Bulk: "j1"}
	all := Access{Update: true, Comment: true, CommentInternal: true, Rights: lifecycle.AssignRights{Assign: true}}
	resolved, high := ticket.StatusResolved, ticket.PriorityHigh
	archivedAt := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	open := func() *ticket.Ticket {
		return &ticket.Ticket{Number: 42, Status: ticket.StatusOpen, Priority: ticket.PriorityMedium, TeamID: id(3), Tags: []string{"printer"}}
	}
	many := make([]string, lifecycle.MaxTicketTags)
	for i := range many {
		many[i] = fmt.Sprintf("t%03d", i)
	}
	for _, c := range []struct {
		name    string
		acc     Access
		change  Change
		comment *Comment
		ticket  *ticket.Ticket
		want    Item
	}{
		{"a ticket the person cannot see", all, Change{Status: &resolved}, nil, nil,
			fail(ReasonNotFound, "no ticket you can see has number 42")},
		{"a role that may not change tickets", Access{Comment: true}, Change{Status: &resolved}, nil, open(),
			fail(ReasonNotAllowed, "the agent role may not change tickets")},
		{"a role that may not comment internally", Access{Update: true, Comment: true}, Change{}, &Comment{Body: "x", Internal: true}, open(),
			fail(ReasonNotAllowed, "the agent role may not add internal comments to tickets")},
		{"closed for good", all, Change{Status: &resolved}, nil, func() *ticket.Ticket { t := open(); t.ArchivedAt = &archivedAt; return t }(),
			fail(ReasonArchived, "ticket #42 was closed for good: its reopen window has ended")},
		{"only what differs", all, Change{Status: &resolved, Priority: func() *ticket.Priority { p := ticket.PriorityMedium; return &p }(),
			Team: &lifecycle.IDChange{ID: id(3)}, Category: &lifecycle.IDChange{ID: id(9)}, TagsAdd: []string{"printer", "vip"}}, nil, open(),
			Item{Change: &lifecycle.ChangeRequest{RequestID: "bulk-j1-42-chg", Actor: agent, Status: &resolved,
				Category: &lifecycle.IDChange{ID: id(9)}, TagsAdd: []string{"vip"}, TagsRemove: []string{}}}},
		{"an assignee carries the rights", all, Change{Assignee: &lifecycle.IDChange{ID: id(8)}}, nil, open(),
			Item{Change: &lifecycle.ChangeRequest{RequestID: "bulk-j1-42-chg", Actor: agent, Assignee: &lifecycle.IDChange{ID: id(8)},
				Rights: &lifecycle.AssignRights{Assign: true}}}},
		{"unassigning an unassigned ticket is nothing", all, Change{Assignee: &lifecycle.IDChange{}}, nil, open(), Item{}},
		{"already as asked", all, Change{Priority: &high, TagsRemove: []string{"vip"}}, nil,
			func() *ticket.Ticket { t := open(); t.Priority = high; return t }(), Item{}},
		{"a comment always, with the change", all, Change{Priority: &high}, &Comment{Body: "x", Internal: true}, open(),
			Item{Change: &lifecycle.ChangeRequest{RequestID: "bulk-j1-42-chg", Actor: agent, Priority: &high},
				Comment: &lifecycle.CommentRequest{RequestID: "bulk-j1-42-cmt", Actor: agent, Internal: true}}},
		{"too many tags for this ticket", all, Change{TagsAdd: []string{"one-more"}}, nil,
			func() *ticket.Ticket { t := open(); t.Tags = many; return t }(),
			fail(ReasonInvalid, "tags_add: the ticket would have %d tags; a ticket keeps at most %d", lifecycle.MaxTicketTags+1, lifecycle.MaxTicketTags)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Plan("j1", agent, c.acc, c.change, c.comment, 42, c.ticket)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n %s\nwant\n %s", show(got), show(c.want))
			}
			if got.Skip() != (c.want.Failure == nil && c.want.Change == nil && c.want.Comment == nil) {
				t.Errorf("Skip() %v", got.Skip())
			}
		})
	}
}

func show(it Item) string {
	out := ""
	if it.Failure != nil {
		out += fmt.Sprintf("failure %+v ", *it.Failure)
	}
	if it.Change != nil {
		out += fmt.Sprintf("change %+v ", *it.Change)
	}
	if it.Comment != nil {
		out += fmt.Sprintf("comment %+v", *it.Comment)
	}
	return out
}

// A ticket's requests from one job always have the same IDs (that is what
// makes a retry harmless), and differ between jobs, tickets and kinds.
func TestRequestIDs(t *testing.T) {
	a := lifecycle.Actor{UserID: 1, Role: ticket.RoleAgent}
	ch := Change{Priority: func() *ticket.Priority { p := ticket.PriorityLow; return &p }()}
	tk := &ticket.Ticket{Number: 5, Status: ticket.StatusOpen, Priority: ticket.PriorityHigh}
	acc := Access{Update: true, Comment: true}
	first := Plan("job", a, acc, ch, &Comment{Body: "b"}, 5, tk)
	again := Plan("job", a, acc, ch, &Comment{Body: "b"}, 5, tk)
	if first.Change.RequestID != again.Change.RequestID || first.Comment.RequestID != again.Comment.RequestID {
		t.Errorf("IDs differ between two plans of the same job and ticket")
	}
	ids := []string{first.Change.RequestID, first.Comment.RequestID, RequestID("job", 6, kindChange), RequestID("job2", 5, kindChange)}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 4 {
		t.Errorf("IDs collide: %v", ids)
	}
}

func TestRefusal(t *testing.T) {
	for _, c := range []struct {
		kind   string
		fields []lifecycle.FieldProblem
		want   Failure
	}{
		{lifecycle.ErrNotAllowed, nil, Failure{ReasonTransitionRefused, "msg"}},
		{lifecycle.ErrForbidden, nil, Failure{ReasonNotAllowed, "msg"}},
		{lifecycle.ErrInvalid, []lifecycle.FieldProblem{{Field: "custom_fields.asset", Detail: "is required to resolve"}},
			Failure{ReasonInvalid, "msg; custom_fields.asset: is required to resolve"}},
		{lifecycle.ErrConflict, nil, Failure{ReasonInvalid, "msg"}},
	} {
		if got := Refusal(c.kind, "msg", c.fields); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.kind, got, c.want)
		}
	}
}

func TestDedupe(t *testing.T) {
	if got := Dedupe([]int64{3, 1, 3, 2, 1}); !slices.Equal(got, []int64{3, 1, 2}) {
		t.Errorf("got %v", got)
	}
}
