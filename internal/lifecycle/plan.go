// Package lifecycle is the ticket's state machine as pure functions of
// (state, policy, request, time): what a change does, which events and
// notifications it writes, which deadlines are pending, and what a routing
// decision records. Every rule about a ticket change lives here, so the
// web, the API, mail, timers and bulk actions obey the same rules; the
// workflow (workflows/) only sequences these functions, and the store
// writes the records they return. No I/O, no clocks: every rule has plain
// unit tests.
package lifecycle

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Plan is a change worked out but not yet durable: the state after it,
// the events and notifications that record it.
type Plan struct {
	State  State
	Events []Event
	Outbox []Notification
	// Reopened: the change reopened a resolved or closed ticket.
	Reopened bool
	// Route asks for a routing decision once the plan is durable.
	Route *RouteAsk
}

// RouteAsk asks the workflow to route its ticket after a change.
type RouteAsk struct {
	Trigger string
	Exclude []int64
}

// add records an event of the payload's kind; notify queues a
// notification of event seq.
func (p *Plan) add(data ticket.EventPayload) int64 {
	p.State.Seq++
	p.Events = append(p.Events, Event{Seq: p.State.Seq, Kind: data.Kind(), Data: data})
	return p.State.Seq
}

func (p *Plan) notify(seq int64, data ticket.OutboxPayload) {
	p.Outbox = append(p.Outbox, Notification{Seq: seq, Kind: data.Kind(), Data: data})
}

func rejectf(kind string, details any, format string, args ...any) error {
	return temporal.NewApplicationErrorWithOptions(fmt.Sprintf(format, args...), kind,
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{details}})
}

func Open(s ticket.Status) bool {
	return s != ticket.StatusResolved && s != ticket.StatusClosed
}

// cloneState deep-copies the parts of State a plan changes in place.
func CloneState(s State) State {
	s.Fired = cloneMap(s.Fired)
	breached := make(map[Clock]time.Time, len(s.BreachedAt))
	for k, v := range s.BreachedAt {
		breached[k] = v
	}
	s.BreachedAt = breached
	s.Processed = slices.Clone(s.Processed)
	return s
}

func cloneMap(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ResolveFacts is what the rule "a ticket is resolved or closed only with
// the custom fields required to resolve it" reads: the fields required to
// resolve, the category path the ticket will have (nearest first) and its
// values with the change's own merged in.
type ResolveFacts struct {
	Fields []catalog.Field `json:"fields"`
	Path   []int64         `json:"path"`
	Values catalog.Values  `json:"values"`
}

// Resolves reports whether req moves the ticket to resolved or closed, so
// the caller loads the ResolveFacts PlanChange needs.
func Resolves(st State, req ChangeRequest) bool {
	return req.Status != nil && *req.Status != st.Status && !Open(*req.Status)
}

// PlanChange works out a ChangeRequest. An error is a rejection
// (ErrNotAllowed, ErrInvalid, ErrConflict, ErrForbidden). facts are nil
// where they are not known (an Update's validator, runs from before the
// rule moved here); then the required-fields rule is left to the plan
// made with them.
func PlanChange(st State, pol Policy, cal sla.Calendar, req ChangeRequest, facts *ResolveFacts, now time.Time) (Plan, error) {
	p := Plan{State: CloneState(st)}
	s := &p.State
	var problems []FieldProblem
	if req.Status != nil {
		if _, err := ticket.ParseStatus(string(*req.Status)); err != nil {
			problems = append(problems, FieldProblem{Field: "status", Detail: err.Error()})
		}
	}
	if req.Priority != nil {
		if _, err := ticket.ParsePriority(string(*req.Priority)); err != nil {
			problems = append(problems, FieldProblem{Field: "priority", Detail: err.Error()})
		}
	}
	for _, f := range req.Text {
		if f != "subject" && f != "description" && f != "custom_fields" {
			problems = append(problems, FieldProblem{Field: f, Detail: "is not a text field"})
		}
	}
	tagsAdd, tagsRemove, tagProblems := NormalizeTags(req.TagsAdd, req.TagsRemove)
	problems = append(problems, tagProblems...)
	if facts != nil && Resolves(st, req) {
		for _, p := range catalog.MissingToResolve(facts.Fields, facts.Path, facts.Values) {
			problems = append(problems, FieldProblem{Field: p.Field, Detail: p.Detail})
		}
	}
	if len(problems) > 0 {
		return Plan{}, rejectf(ErrInvalid, problems, "the change is not valid")
	}
	if s.Archived {
		return Plan{}, rejectf(ErrConflict, ticket.ReasonArchived, "ticket #%d was closed for good; its reopen window has ended", s.Number)
	}
	if req.Reason == ticket.ReasonReopen && s.Status != ticket.StatusOpen && Open(s.Status) {
		return Plan{}, rejectf(ErrConflict, "not closed", "ticket #%d is %s; only resolved or closed tickets can be reopened", s.Number, s.Status)
	}
	if req.IfUnassigned && s.AssigneeID != nil {
		return Plan{}, rejectf(ErrConflict, "assigned", "ticket #%d is already assigned", s.Number)
	}
	if !req.Actor.Agent() && (req.Priority != nil || req.Assignee != nil || req.Team != nil || len(req.Text) > 0 ||
		req.Category != nil || req.RerouteFrom != nil || len(tagsAdd) > 0 || len(tagsRemove) > 0) {
		return Plan{}, rejectf(ErrForbidden, "requester", "requesters may only reopen their tickets")
	}
	if err := mayAssign(*s, req); err != nil {
		return Plan{}, err
	}
	if req.Status != nil && *req.Status != s.Status {
		if !req.Actor.Agent() && !(!Open(s.Status) && *req.Status == ticket.StatusOpen) {
			return Plan{}, rejectf(ErrForbidden, "requester", "requesters may only reopen their tickets")
		}
		ok, allowed := ticket.Allowed(pol.Transitions, s.Status, *req.Status)
		if !ok {
			return Plan{}, rejectf(ErrNotAllowed, NotAllowedDetails{From: s.Status, To: *req.Status, Allowed: nonNilStrings(allowed)},
				"a ticket cannot move from %s to %s; allowed: %v", s.Status, *req.Status, allowed)
		}
	}
	// Everything is valid: apply in a fixed order.
	rulesAgain := false
	if req.Priority != nil && *req.Priority != s.Priority {
		setPriority(&p, pol, *req.Priority, "")
		s.PriorityManual = req.Actor.UserID != 0
		rulesAgain = true
	}
	if req.Category != nil && !SameID(req.Category.ID, s.CategoryID) {
		p.add(ticket.CategoryChanged{From: s.CategoryID, To: req.Category.ID})
		s.CategoryID = req.Category.ID
		rulesAgain = true
	}
	if req.Team != nil && !SameID(req.Team.ID, s.TeamID) {
		p.add(ticket.TeamChanged{From: s.TeamID, To: req.Team.ID})
		s.TeamID = req.Team.ID
	}
	if req.Assignee != nil && !SameID(req.Assignee.ID, s.AssigneeID) {
		setAssignee(&p, pol, req.Assignee.ID, "")
		s.AssigneeManual = req.Assignee.ID != nil && req.Actor.UserID != 0
	}
	if len(tagsAdd) > 0 || len(tagsRemove) > 0 {
		// The store keeps those that change the row's tags.
		p.add(ticket.TagsChanged{Added: tagsAdd, Removed: tagsRemove})
	}
	for _, f := range req.Text {
		if f == "custom_fields" {
			// The activity merges the values and records old and new.
			p.add(ticket.FieldsChanged{})
			rulesAgain = true
			continue
		}
		// The activity fills in old and new text from PostgreSQL.
		p.add(ticket.TextChanged{Field: f})
	}
	if from := req.RerouteFrom; from != nil && s.AssigneeID != nil && *s.AssigneeID == *from {
		setAssignee(&p, pol, nil, fmt.Sprintf("rerouting: agent %d is unavailable", *from))
		s.AssigneeManual = false
		p.Route = &RouteAsk{Trigger: RouteReroute, Exclude: []int64{*from}}
	} else if rulesAgain && req.Assignee == nil && req.Team == nil {
		// A person's own assignment in the same change wins over rules.
		p.Route = &RouteAsk{Trigger: RouteChanged}
	}
	if req.Status != nil && *req.Status != s.Status {
		setStatus(&p, pol, cal, *req.Status, req.Reason, now)
	}
	checkAttempts(&p, pol, now)
	return p, nil
}

// mayAssign is the assignment rule: taking an unassigned ticket yourself
// or releasing your own needs nothing more than the change itself;
// assigning someone else needs Rights.Assign; changing the assignee of a
// ticket assigned to someone else (to anyone, yourself included, or to
// nobody) needs Rights.Reassign. Checked against the assignee the ticket
// has now, so a ticket taken by someone between the request and its turn
// is not silently reassigned.
func mayAssign(s State, req ChangeRequest) error {
	r := req.Rights
	if r == nil || req.Assignee == nil || SameID(req.Assignee.ID, s.AssigneeID) {
		return nil
	}
	me := req.Actor.UserID
	if s.AssigneeID != nil && *s.AssigneeID != me {
		if !r.Reassign {
			return rejectf(ErrForbidden, "reassign", "ticket #%d is assigned to someone else; the %s role may not reassign it", s.Number, req.Actor.Role)
		}
		return nil
	}
	if to := req.Assignee.ID; to != nil && *to != me && !r.Assign {
		return rejectf(ErrForbidden, "assign", "the %s role may not assign tickets to others", req.Actor.Role)
	}
	return nil
}

// planComment works out a new comment and what it sets off: the first
// response, a reopen or return from pending on a requester reply, the
// follow-up count.
func PlanComment(st State, pol Policy, cal sla.Calendar, req CommentRequest, now time.Time) (Plan, error) {
	// The system (UserID 0) writes internal notes too: a delivery failure.
	if req.Internal && !req.Actor.Agent() && !(req.Actor.Role == ticket.RoleSystem && req.Actor.UserID == 0) {
		return Plan{}, rejectf(ErrForbidden, "internal", "only agents may add internal comments")
	}
	if st.Archived {
		return Plan{}, rejectf(ErrConflict, ticket.ReasonArchived, "ticket #%d was closed for good; its reopen window has ended", st.Number)
	}
	p := Plan{State: CloneState(st)}
	s := &p.State
	seq := p.add(ticket.Comment{Internal: req.Internal})
	fromRequester := req.Actor.UserID != 0 && s.RequesterID != nil && *s.RequesterID == req.Actor.UserID || req.Actor.Role == "requester"
	switch {
	case req.Internal:
	case fromRequester:
		s.Followups++
		var to ticket.Status
		switch s.Status {
		case ticket.StatusResolved, ticket.StatusClosed:
			to = ticket.StatusOpen
		case ticket.StatusPending:
			to = ticket.StatusOpen
		}
		if to != "" {
			if ok, _ := ticket.Allowed(pol.Transitions, s.Status, to); ok {
				reason := "requester replied"
				if !Open(s.Status) {
					reason = ticket.ReasonReopen
				}
				setStatus(&p, pol, cal, to, reason, now)
			}
		}
	case req.Actor.Agent():
		s.Followups = 0
		if s.FirstRespondedAt == nil {
			t := now
			s.FirstRespondedAt = &t
			if s.FirstResponse != nil {
				b := s.FirstResponse.Pause(cal, now)
				s.FirstResponse = &b
			}
		}
		p.notify(seq, ticket.AgentReplyNotice{AuthorID: req.Actor.UserID})
	}
	checkAttempts(&p, pol, now)
	return p, nil
}

// planAttach records an attachment.
func PlanAttach(st State, req AttachRequest) (Plan, error) {
	if req.Internal && !req.Actor.Agent() {
		return Plan{}, rejectf(ErrForbidden, "internal", "only agents may add internal attachments")
	}
	if st.Archived {
		return Plan{}, rejectf(ErrConflict, ticket.ReasonArchived, "ticket #%d was closed for good; its reopen window has ended", st.Number)
	}
	p := Plan{State: CloneState(st)}
	p.add(ticket.Attachment{AttachmentID: req.AttachmentID, Internal: req.Internal})
	return p, nil
}

func SameID(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func setPriority(p *Plan, pol Policy, to ticket.Priority, reason string) {
	s := &p.State
	p.add(ticket.PriorityChanged{From: s.Priority, To: to, Reason: reason})
	s.Priority = to
	t := pol.SLA[to]
	s.FirstResponse = Retarget(s.FirstResponse, t.FirstResponse, s.CreatedAt)
	s.Resolution = Retarget(s.Resolution, t.Resolution, s.CreatedAt)
}

// planRouted records a routing decision: a "routed" event with its
// reason, then the priority, team and assignee it set, each carrying the
// same reason.
func PlanRouted(st State, pol Policy, d Decision) Plan {
	p := Plan{State: CloneState(st)}
	s := &p.State
	p.add(ticket.Routed{Reason: d.Reason, Rules: d.Rules, Strategy: d.Strategy, Tags: d.Tags})
	if d.Priority != nil && *d.Priority != s.Priority {
		why := d.PriorityReason
		if why == "" {
			why = d.Reason
		}
		setPriority(&p, pol, *d.Priority, why)
	}
	if d.SetTeam && !SameID(d.TeamID, s.TeamID) {
		p.add(ticket.TeamChanged{From: s.TeamID, To: d.TeamID, Reason: d.Reason})
		s.TeamID = d.TeamID
	}
	if d.SetAssignee && !SameID(d.AssigneeID, s.AssigneeID) {
		setAssignee(&p, pol, d.AssigneeID, d.Reason)
		s.AssigneeManual = false
	}
	return p
}

// planPolicy adopts a new policy: the ticket's clocks take the new
// targets of its priority (time already used still counts) and every
// deadline is recomputed by the caller.
func PlanPolicy(st State, pol Policy, now time.Time) Plan {
	p := Plan{State: CloneState(st)}
	s := &p.State
	t := pol.SLA[s.Priority]
	running := s.Status == ticket.StatusOpen || s.Status == ticket.StatusInProgress
	for _, c := range []struct {
		b      **sla.Budget
		target time.Duration
	}{{&s.FirstResponse, t.FirstResponse}, {&s.Resolution, t.Resolution}} {
		if *c.b == nil && c.target > 0 && !running {
			*c.b = &sla.Budget{Target: c.target} // a new clock, paused like the others
			continue
		}
		*c.b = Retarget(*c.b, c.target, s.CreatedAt)
	}
	p.add(ticket.PolicyChanged{FirstResponse: t.FirstResponse.String(), Resolution: t.Resolution.String(), Escalation: pol.Escalation})
	return p
}

// retarget moves a clock to a new target. A clock without a target gets
// one counting from creation (used time unknown: it is paused at zero and
// resumed by the caller's status); a zero target removes the clock.
func Retarget(b *sla.Budget, target time.Duration, created time.Time) *sla.Budget {
	if target <= 0 {
		return nil
	}
	if b == nil {
		nb := sla.NewBudget(target, created)
		return &nb
	}
	nb := b.Retarget(target)
	return &nb
}

func setAssignee(p *Plan, pol Policy, to *int64, reason string) {
	s := &p.State
	p.add(ticket.Assigned{From: s.AssigneeID, To: to, Reason: reason})
	if s.AssigneeID != nil && to != nil {
		s.Reassignments++
	}
	s.AssigneeID = to
}

// setStatus moves the status and the SLA clocks with it: pending pauses
// both, resolved and closed stop them, a reopen resumes them.
func setStatus(p *Plan, pol Policy, cal sla.Calendar, to ticket.Status, reason string, now time.Time) {
	s := &p.State
	from := s.Status
	seq := p.add(ticket.StatusChanged{From: from, To: to, Reason: reason})
	p.notify(seq, ticket.StatusChangedNotice{From: from, To: to})
	s.Status = to
	running := to == ticket.StatusOpen || to == ticket.StatusInProgress
	for _, b := range []**sla.Budget{&s.FirstResponse, &s.Resolution} {
		if *b == nil {
			continue
		}
		var nb sla.Budget
		if running {
			nb = (*b).Resume(now)
		} else {
			nb = (*b).Pause(cal, now)
		}
		*b = &nb
	}
	if s.FirstRespondedAt != nil && s.FirstResponse != nil && s.FirstResponse.Running() {
		b := s.FirstResponse.Pause(cal, now) // met: stays stopped
		s.FirstResponse = &b
	}
	switch to {
	case ticket.StatusResolved:
		t := now
		s.ResolvedAt = &t
	case ticket.StatusClosed:
		t := now
		s.ClosedAt = &t
		if s.ResolvedAt == nil {
			s.ResolvedAt = &t
		}
	default:
		if !Open(from) {
			s.Reopens++
			p.Reopened = true
			s.ResolvedAt, s.ClosedAt = nil, nil
		}
	}
}

// escalate applies one escalation: level, optional priority raise and team
// move, an event and a notification.
func escalate(p *Plan, pol Policy, rule string, a Escalation, reason string, now time.Time) {
	s := &p.State
	from := s.EscalationLevel
	if a.Level > s.EscalationLevel {
		s.EscalationLevel = a.Level
	}
	seq := p.add(ticket.Escalated{Rule: rule, Reason: reason, FromLevel: from, Level: s.EscalationLevel})
	// Tell people only when something changed: a rule firing on a ticket
	// already at its level (and doing nothing else) is history, not news.
	acts := s.EscalationLevel > from || a.RaisePriority && s.Priority.Rank() > 0 || a.TeamID != nil && !SameID(a.TeamID, s.TeamID)
	if acts {
		p.notify(seq, ticket.EscalatedNotice{Rule: rule, Level: s.EscalationLevel, Reason: reason})
	}
	if a.RaisePriority && s.Priority.Rank() > 0 {
		setPriority(p, pol, ticket.Priorities()[s.Priority.Rank()-1], "escalation "+rule)
	}
	if a.TeamID != nil && !SameID(a.TeamID, s.TeamID) {
		p.add(ticket.TeamChanged{From: s.TeamID, To: a.TeamID, Reason: "escalation " + rule})
		s.TeamID = a.TeamID
		if s.AssigneeID != nil {
			// Not a reassignment the attempt rule should count.
			p.add(ticket.Assigned{From: s.AssigneeID, To: nil, Reason: "escalation " + rule})
			s.AssigneeID = nil
		}
	}
}

// checkAttempts fires attempt rules whose counter reached its count.
func checkAttempts(p *Plan, pol Policy, now time.Time) {
	if !pol.Escalation {
		return
	}
	s := &p.State
	for _, r := range pol.AttemptRules {
		key := "attempt:" + r.Name
		if s.Fired[key] {
			continue
		}
		var n int
		switch r.Kind {
		case AttemptReopened:
			n = s.Reopens
		case AttemptRequesterFollowups:
			n = s.Followups
		case AttemptReassigned:
			n = s.Reassignments
		}
		if r.Count > 0 && n >= r.Count {
			s.Fired[key] = true
			escalate(p, pol, r.Name, r.Action, fmt.Sprintf("%s reached %d", r.Kind, n), now)
		}
	}
}

// Deadline is one pending timer of the ticket.
type Deadline struct {
	Key     string    `json:"key"`
	At      time.Time `json:"at"`
	Summary string    `json:"summary"`
}

// deadlines lists the ticket's pending deadlines, earliest first.
func Deadlines(s State, pol Policy, cal sla.Calendar) []Deadline {
	var out []Deadline
	clock := func(c Clock) *sla.Budget {
		switch c {
		case ClockFirstResponse:
			if s.FirstRespondedAt != nil {
				return nil
			}
			return s.FirstResponse
		case ClockResolution:
			return s.Resolution
		}
		return nil
	}
	label := map[Clock]string{ClockFirstResponse: "first-response", ClockResolution: "resolution"}
	if Open(s.Status) {
		for _, c := range []Clock{ClockFirstResponse, ClockResolution} {
			b := clock(c)
			if b == nil || s.Fired["breach:"+string(c)] {
				continue
			}
			if due, ok := b.Due(cal); ok {
				out = append(out, Deadline{Key: "breach:" + string(c), At: due,
					Summary: fmt.Sprintf("%s: %s SLA", s.Priority, label[c])})
			}
		}
		if pol.Escalation {
			for _, r := range pol.TimeRules {
				b := clock(r.Clock)
				if b == nil || s.Fired["rule:"+r.Name] {
					continue
				}
				if t, ok := s.BreachedAt[r.Clock]; ok && r.Percent == 100 {
					out = append(out, Deadline{Key: "rule:" + r.Name, At: t.Add(r.After),
						Summary: fmt.Sprintf("%s: escalation %s (%s breached + %s)", s.Priority, r.Name, label[r.Clock], r.After)})
				} else if at, ok := b.At(cal, float64(r.Percent)/100); ok {
					out = append(out, Deadline{Key: "rule:" + r.Name, At: at.Add(r.After),
						Summary: fmt.Sprintf("%s: escalation %s (%s %d%%)", s.Priority, r.Name, label[r.Clock], r.Percent)})
				}
			}
		}
		if pol.ExpireAfter > 0 && !s.Fired["expiry"] {
			out = append(out, Deadline{Key: "expiry", At: s.CreatedAt.Add(pol.ExpireAfter), Summary: "expiry: unresolved too long"})
		}
	}
	if s.Status == ticket.StatusResolved && pol.AutoCloseAfter > 0 && s.ResolvedAt != nil {
		out = append(out, Deadline{Key: "autoclose", At: s.ResolvedAt.Add(pol.AutoCloseAfter), Summary: "auto-close after resolution"})
	}
	if s.Status == ticket.StatusClosed && s.ClosedAt != nil {
		out = append(out, Deadline{Key: "archive", At: s.ClosedAt.Add(pol.ReopenWindow), Summary: "reopen window ends"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// planDeadlines fires every deadline due at now, in order, as the system.
func PlanDeadlines(st State, pol Policy, cal sla.Calendar, now time.Time) (Plan, bool) {
	p := Plan{State: CloneState(st)}
	fired := false
	// Each firing can change the deadlines (a priority raise moves the
	// clocks); recompute after each one.
	for i := 0; i < 64; i++ {
		due := Deadlines(p.State, pol, cal)
		if len(due) == 0 || due[0].At.After(now) {
			break
		}
		d := due[0]
		fired = true
		s := &p.State
		switch {
		case d.Key == "breach:first_response" || d.Key == "breach:resolution":
			s.Fired[d.Key] = true
			c := d.Key[len("breach:"):]
			s.BreachedAt[Clock(c)] = d.At
			seq := p.add(ticket.SLABreached{Clock: c, DueAt: d.At.UTC(), Priority: s.Priority})
			p.notify(seq, ticket.SLABreachedNotice{Clock: c, DueAt: d.At.UTC()})
		case len(d.Key) > 5 && d.Key[:5] == "rule:":
			s.Fired[d.Key] = true
			for _, r := range pol.TimeRules {
				if "rule:"+r.Name == d.Key {
					escalate(&p, pol, r.Name, r.Action,
						fmt.Sprintf("%s at %d%% of its target (due %s)", r.Clock, r.Percent, d.At.UTC().Format(time.RFC3339)), now)
				}
			}
		case d.Key == "expiry":
			s.Fired["expiry"] = true
			t := now
			s.ExpiredAt = &t
			seq := p.add(ticket.Expired{After: pol.ExpireAfter.String(), Action: pol.ExpiryAction, DueAt: d.At.UTC()})
			p.notify(seq, ticket.ExpiredNotice{Action: pol.ExpiryAction})
			if pol.ExpiryAction == ExpiryClose {
				setStatus(&p, pol, cal, ticket.StatusClosed, "expired", now)
			} else {
				escalate(&p, pol, "expiry", Escalation{Level: s.EscalationLevel + 1}, "unresolved after "+pol.ExpireAfter.String(), now)
			}
		case d.Key == "autoclose":
			setStatus(&p, pol, cal, ticket.StatusClosed, "auto-close", now)
		case d.Key == "archive":
			s.Archived = true
			p.add(ticket.Archived{ReopenWindow: pol.ReopenWindow.String()})
		}
		if s.Archived {
			break
		}
	}
	return p, fired
}

// slaDueAt is the earliest running SLA deadline, nil while paused or met.
func SLADueAt(s State, cal sla.Calendar) *time.Time {
	var best *time.Time
	for _, b := range []*sla.Budget{s.FirstResponse, s.Resolution} {
		if b == nil || (b == s.FirstResponse && s.FirstRespondedAt != nil) || !Open(s.Status) {
			continue
		}
		if due, ok := b.Due(cal); ok && (best == nil || due.Before(*best)) {
			d := due
			best = &d
		}
	}
	return best
}

// clockDue is one clock's deadline for display, nil when paused or met.
func ClockDue(b *sla.Budget, cal sla.Calendar) *time.Time {
	if b == nil {
		return nil
	}
	if due, ok := b.Due(cal); ok {
		return &due
	}
	return nil
}
