// Package bulk is what a bulk action is and decides, as pure functions: the
// change and comment it applies, the states of a job and of each of its
// tickets, the reasons a ticket fails, and for each ticket what the person
// who started the action may do to it — the same rules that apply when
// they change that ticket by hand (visibility, the access policy's
// answers, the ticket workflow's planner). The bulk workflow
// (workflows/bulk.go) sequences it; its activities (activities/bulk.go)
// read tickets and send each ticket's workflow its Updates.
package bulk

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// States of a job.
const (
	StateRunning   = "running"
	StateCompleted = "completed"
	StateCancelled = "cancelled"
	StateFailed    = "failed" // the job could not run at all (its set could not be resolved, its owner was disabled)
)

// States of one ticket of a job.
const (
	ItemPending   = "pending"
	ItemSucceeded = "succeeded"
	ItemSkipped   = "skipped" // the ticket already was as asked; nothing was written
	ItemFailed    = "failed"
	ItemCancelled = "cancelled" // the job was cancelled before its turn
)

// Reasons a ticket fails.
const (
	// ReasonNotFound: no ticket the person may see has this number. A
	// ticket outside their scope reads exactly like one that does not
	// exist (as GET /tickets/{id} answers 404 for both), so a bulk action
	// never tells whether a number is taken.
	ReasonNotFound = "not_found"
	// ReasonNotAllowed: the person sees the ticket but their role may not
	// make this change to it (e.g. reassign someone else's ticket).
	ReasonNotAllowed = "not_allowed"
	// ReasonTransitionRefused: the status move is not allowed from the
	// ticket's status.
	ReasonTransitionRefused = "transition_refused"
	// ReasonArchived: the ticket is closed for good.
	ReasonArchived = "archived"
	// ReasonInvalid: a value this ticket cannot take (a field required to
	// resolve it is empty, too many tags, …).
	ReasonInvalid = "invalid"
	// ReasonUnavailable: the ticket's workflow did not answer after
	// MaxAttempts tries; the change may or may not have been applied (it
	// is never applied twice).
	ReasonUnavailable = "unavailable"
)

// Reasons lists every reason, for documentation and clients.
func Reasons() []string {
	return []string{ReasonNotFound, ReasonNotAllowed, ReasonTransitionRefused, ReasonArchived, ReasonInvalid, ReasonUnavailable}
}

// MaxAttempts is how often a ticket's Updates are sent without an answer
// before the ticket fails as ReasonUnavailable.
const MaxAttempts = 5

// Change is what a bulk action changes on each ticket; nil members are
// left as they are. Assignee, team and category were resolved to ids
// when the action was created.
type Change struct {
	Status     *ticket.Status      `json:"status,omitempty"`
	Priority   *ticket.Priority    `json:"priority,omitempty"`
	Assignee   *lifecycle.IDChange `json:"assignee,omitempty"`
	Team       *lifecycle.IDChange `json:"team,omitempty"`
	Category   *lifecycle.IDChange `json:"category,omitempty"`
	TagsAdd    []string            `json:"tags_add,omitempty"`
	TagsRemove []string            `json:"tags_remove,omitempty"`
}

// Empty reports whether the change names nothing to change.
func (c Change) Empty() bool {
	return c.Status == nil && c.Priority == nil && c.Assignee == nil && c.Team == nil && c.Category == nil &&
		len(c.TagsAdd) == 0 && len(c.TagsRemove) == 0
}

// Comment is the comment a bulk action adds to each ticket.
type Comment struct {
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
}

// Access is what the access policy (Casbin) lets the person's role do to
// tickets: the answers the API asks for when they change one by hand.
type Access struct {
	Update          bool // ticket/update
	Comment         bool // ticket/comment
	CommentInternal bool // ticket/comment_internal
	Rights          lifecycle.AssignRights
}

// Failure is why one ticket was not changed.
type Failure struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Item is what a bulk action does to one ticket: a failure, or the
// Updates to send (none: the ticket already is as asked).
type Item struct {
	Failure *Failure
	Change  *lifecycle.ChangeRequest
	Comment *lifecycle.CommentRequest
}

// Skip reports whether there is nothing to do.
func (it Item) Skip() bool { return it.Failure == nil && it.Change == nil && it.Comment == nil }

// Kinds of request a job sends a ticket, the last part of their IDs.
const (
	kindChange  = "chg"
	kindComment = "cmt"
)

// RequestID is the request (and Update) ID of one of a job's Updates to
// ticket number. Derived, never random: a retried activity or a new
// worker after a crash sends the same ID again, and the ticket's workflow
// answers it with its first answer instead of applying it twice.
func RequestID(job string, number int64, kind string) string {
	return "bulk-" + job + "-" + strconv.FormatInt(number, 10) + "-" + kind
}

// Plan decides what job does to ticket t for actor, whose access is acc:
// t is nil when the actor may not see the ticket (or it does not exist).
// What differs from the ticket as it is becomes the change request (the
// workflow's planner then applies its own rules: transitions, the
// assignment rule, required fields); a comment is always added.
func Plan(job string, actor lifecycle.Actor, acc Access, ch Change, cm *Comment, number int64, t *ticket.Ticket) Item {
	if t == nil {
		return fail(ReasonNotFound, "no ticket you can see has number %d", number)
	}
	if !ch.Empty() && !acc.Update {
		return fail(ReasonNotAllowed, "the %s role may not change tickets", actor.Role)
	}
	if cm != nil && (!acc.Comment || cm.Internal && !acc.CommentInternal) {
		what := "comment on"
		if cm.Internal {
			what = "add internal comments to"
		}
		return fail(ReasonNotAllowed, "the %s role may not %s tickets", actor.Role, what)
	}
	if t.ArchivedAt != nil {
		return fail(ReasonArchived, "ticket #%d was closed for good: its reopen window has ended", number)
	}
	var it Item
	req := lifecycle.ChangeRequest{RequestID: RequestID(job, number, kindChange), Actor: actor}
	moves := false
	if ch.Status != nil && *ch.Status != t.Status {
		req.Status, moves = ch.Status, true
	}
	if ch.Priority != nil && *ch.Priority != t.Priority {
		req.Priority, moves = ch.Priority, true
	}
	for _, r := range []struct {
		want    *lifecycle.IDChange
		current *int64
		into    **lifecycle.IDChange
	}{{ch.Assignee, t.AssigneeID, &req.Assignee}, {ch.Team, t.TeamID, &req.Team}, {ch.Category, t.CategoryID, &req.Category}} {
		if r.want != nil && !lifecycle.SameID(r.want.ID, r.current) {
			*r.into, moves = r.want, true
		}
	}
	if req.Assignee != nil {
		rights := acc.Rights
		req.Rights = &rights
	}
	adds, removes, problem := lifecycle.TagChange(t.Tags, ch.TagsAdd, ch.TagsRemove)
	if problem != nil {
		return fail(ReasonInvalid, "%s: %s", problem.Field, problem.Detail)
	}
	if len(adds)+len(removes) > 0 {
		req.TagsAdd, req.TagsRemove, moves = adds, removes, true
	}
	if moves {
		it.Change = &req
	}
	if cm != nil {
		it.Comment = &lifecycle.CommentRequest{RequestID: RequestID(job, number, kindComment), Actor: actor, Internal: cm.Internal}
	}
	return it
}

func fail(reason, format string, args ...any) Item {
	return Item{Failure: &Failure{Reason: reason, Detail: fmt.Sprintf(format, args...)}}
}

// Refusal is the failure of a ticket whose workflow refused an Update
// with a rejection of kind (lifecycle.ErrNotAllowed, ErrForbidden,
// ErrInvalid, ErrConflict) and message; fields are ErrInvalid's.
func Refusal(kind, message string, fields []lifecycle.FieldProblem) Failure {
	switch kind {
	case lifecycle.ErrNotAllowed:
		return Failure{Reason: ReasonTransitionRefused, Detail: message}
	case lifecycle.ErrForbidden:
		return Failure{Reason: ReasonNotAllowed, Detail: message}
	}
	detail := message
	for _, f := range fields {
		detail += fmt.Sprintf("; %s: %s", f.Field, f.Detail)
	}
	return Failure{Reason: ReasonInvalid, Detail: detail}
}

// Dedupe returns numbers without repeats, in the order first seen.
func Dedupe(numbers []int64) []int64 {
	seen := make(map[int64]bool, len(numbers))
	out := make([]int64, 0, len(numbers))
	for _, n := range numbers {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return slices.Clip(out)
}
