package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

// Every change to an existing ticket is a workflow Update: validated by
// the workflow against its state, and answered only once its events are
// durable in PostgreSQL. This file has the PATCH and reopen handlers and
// the helpers every change handler shares (request IDs, sending the
// Update, mapping its rejections to problems).

// actorOf is the caller as the workflow records it.
func actorOf(p *identity.Principal) workflows.Actor {
	return workflows.Actor{UserID: p.User.ID, Role: string(p.User.Role)}
}

// requestID names one change request: derived from the caller, the ticket
// and the Idempotency-Key header when one is sent (a retry is then the
// same Update and gets the same answer), random otherwise. prefix keeps
// kinds of request apart (chg, cmt, reo).
func requestID(c *fiber.Ctx, prefix string, userID, number int64) (string, *FieldError) {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return prefix + "-" + randomKey(), nil
	}
	if utf8.RuneCountInString(key) > maxIdempotencyKey {
		return "", &FieldError{Field: "Idempotency-Key", Detail: fmt.Sprintf("header must be at most %d characters", maxIdempotencyKey)}
	}
	// The ticket is part of the ID: request text is stored per request ID,
	// and a key reused on another ticket must not find this one's.
	return prefix + "-" + hashID(fmt.Sprintf("user:%d:ticket:%d:%s", userID, number, key)), nil
}

// may reports whether p's role allows action on tickets.
func (s *Server) may(p *identity.Principal, action string) (bool, error) {
	return s.enforcer.Enforce(string(p.User.Role), "ticket", action)
}

// sendUpdate runs one Update on a ticket's workflow and waits, at most
// update_timeout, until it completed (its events are durable). Every
// failure comes back as a Problem (or a plain error for a 500).
func (s *Server) sendUpdate(ctx context.Context, number int64, name, id string, arg any) (workflows.ChangeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout.D())
	defer cancel()
	out, err := s.flows().Update(ctx, number, name, id, arg)
	if err != nil {
		return out, s.updateProblem(number, err)
	}
	return out, nil
}

// updateProblem maps the failure of a ticket Update (workflows.Client's
// typed errors) to the API's answer:
//
//   - NotAllowed: 409 /problems/transition-not-allowed with the allowed moves
//   - Invalid: 422 with the workflow's field problems
//   - Conflict: 409 /problems/conflict
//   - Forbidden: 403
//   - archived (closed for good, or its workflow completed): 409
//     /problems/ticket-archived
//   - no answer within update_timeout: 503 with Retry-After
//
// Anything else is returned wrapped (500).
func (s *Server) updateProblem(number int64, err error) error {
	var archived *workflows.ArchivedError
	var rejected *workflows.RejectedError
	var late *workflows.UnavailableError
	switch {
	case errors.As(err, &archived):
		return archivedProblem(number)
	case errors.As(err, &rejected):
		switch rejected.Kind {
		case workflows.ErrNotAllowed:
			allowed := []string{}
			detail := rejected.Message
			if d := rejected.NotAllowed; d != nil {
				if d.Allowed != nil {
					allowed = d.Allowed
				}
				if d.From != "" {
					detail = fmt.Sprintf("ticket #%d cannot move from %s to %s; allowed moves from %s: %s",
						number, d.From, d.To, d.From, listOrNone(allowed))
				}
			}
			return &Problem{Type: typeTransition, Title: "Transition not allowed", Status: fiber.StatusConflict,
				Detail: detail, Allowed: allowed}
		case workflows.ErrInvalid:
			var errs []FieldError
			for _, fp := range rejected.Fields {
				errs = append(errs, FieldError{Field: fp.Field, Detail: fp.Detail})
			}
			return invalid(rejected.Message, errs...)
		case workflows.ErrConflict:
			return &Problem{Type: typeConflict, Title: "Conflict", Status: fiber.StatusConflict, Detail: rejected.Message}
		case workflows.ErrForbidden:
			return forbidden(typeForbidden, rejected.Message)
		}
	case errors.As(err, &late):
		s.log.Warn("ticket change not confirmed in time", "ticket", number, "err", err)
		return unavailable(fmt.Sprintf("the change to ticket #%d was not confirmed within %s; retry with the same Idempotency-Key",
			number, s.cfg.UpdateTimeout), retryAfterSeconds)
	}
	return fmt.Errorf("api: update ticket %d: %w", number, err)
}

func archivedProblem(number int64) *Problem {
	return &Problem{Type: typeArchived, Title: "Ticket closed for good", Status: fiber.StatusConflict,
		Detail: fmt.Sprintf("ticket #%d was closed for good: its reopen window has ended; the requester's reply opens a new ticket linked to it", number)}
}

// isArchivedProblem reports whether err is the closed-for-good answer.
func isArchivedProblem(err error) bool {
	var p *Problem
	return errors.As(err, &p) && p.Type == typeArchived
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// currentTicket is the ticket the guard loaded for a `ticket: true` route.
func currentTicket(c *fiber.Ctx) ticket.Ticket {
	t, _ := c.Locals(ticketKey).(ticket.Ticket)
	return t
}

// changeBody is a PATCH /tickets/{id} body.
type changeBody struct {
	Status       Field[string]                     `json:"status"`
	Priority     Field[string]                     `json:"priority"`
	Assignee     Field[json.RawMessage]            `json:"assignee"`
	Team         Field[json.RawMessage]            `json:"team"`
	Subject      Field[string]                     `json:"subject"`
	Description  Field[string]                     `json:"description"`
	CategoryID   Field[json.RawMessage]            `json:"category_id"`
	CustomFields Field[map[string]json.RawMessage] `json:"custom_fields"`
	TagsAdd      Field[[]string]                   `json:"tags_add"`
	TagsRemove   Field[[]string]                   `json:"tags_remove"`
}

// changeInput is a PATCH body checked for everything that needs neither
// the ticket nor the store.
type changeInput struct {
	status         *ticket.Status
	priority       *ticket.Priority
	assignee, team refValue
	subject        *string // trimmed
	description    *string
	category       *int64
	categorySet    bool                       // category_id was sent: null clears it
	fields         map[string]json.RawMessage // custom_fields; nil when not sent
	// tagsAdd, tagsRemove: normalized (lifecycle.NormalizeTags)
	tagsAdd, tagsRemove []string
}

// parseChange reads a PATCH body: a body that is not a JSON object with
// known members, or names nothing to change, is an error; what is wrong
// with its fields comes back as field errors.
func parseChange(body []byte) (changeInput, []FieldError, error) {
	var b changeBody
	if err := decodeBody(body, &b); err != nil {
		return changeInput{}, nil, err
	}
	if !(b.Status.Set || b.Priority.Set || b.Assignee.Set || b.Team.Set || b.Subject.Set || b.Description.Set ||
		b.CategoryID.Set || b.CustomFields.Set || b.TagsAdd.Set || b.TagsRemove.Set) {
		return changeInput{}, nil, invalid("the body names no field to change; send any of " + strings.Join(memberNames(&b), ", "))
	}
	var e fieldErrors
	for _, f := range []struct {
		name string
		f    Field[string]
	}{{"status", b.Status}, {"priority", b.Priority}, {"subject", b.Subject}, {"description", b.Description}} {
		if f.f.Null {
			e.add(f.name, "must be a string, not null")
		}
	}
	var in changeInput
	if v := str(&e, "status", b.Status); v != nil {
		if st, err := ticket.ParseStatus(*v); err != nil {
			e.add("status", err.Error())
		} else {
			in.status = &st
		}
	}
	in.priority = parsePriority(&e, b.Priority)
	in.assignee, in.team = ref(&e, "assignee", b.Assignee), ref(&e, "team", b.Team)
	in.subject = parseSubject(&e, b.Subject)
	in.description = parseDescription(&e, b.Description)
	in.category, in.categorySet = nullableID(&e, "category_id", b.CategoryID)
	in.fields = object(&e, "custom_fields", b.CustomFields)
	in.tagsAdd, in.tagsRemove = parseTags(&e, b.TagsAdd, b.TagsRemove)
	return in, e, nil
}

// parseTags reads optional lists of tags to add and to remove, normalized
// as rules add tags; null reads as an empty list.
func parseTags(e *fieldErrors, add, remove Field[[]string]) (adds, removes []string) {
	a, _ := stringList(e, "tags_add", add)
	r, _ := stringList(e, "tags_remove", remove)
	adds, removes, problems := lifecycle.NormalizeTags(a, r)
	for _, p := range problems {
		e.add(p.Field, p.Detail)
	}
	return adds, removes
}

// parsePriority reads an optional priority name.
func parsePriority(e *fieldErrors, f Field[string]) *ticket.Priority {
	v := str(e, "priority", f)
	if v == nil {
		return nil
	}
	pr, err := ticket.ParsePriority(*v)
	if err != nil {
		e.add("priority", err.Error())
		return nil
	}
	return &pr
}

// parseSubject reads an optional subject, trimmed: not empty, not too long.
func parseSubject(e *fieldErrors, f Field[string]) *string {
	v := str(e, "subject", f)
	if v == nil {
		return nil
	}
	subj := strings.TrimSpace(*v)
	switch n := utf8.RuneCountInString(subj); {
	case n == 0:
		e.add("subject", "must not be empty")
	case n > ticket.MaxSubjectRunes:
		e.add("subject", fmt.Sprintf("must be at most %d characters, got %d", ticket.MaxSubjectRunes, n))
	default:
		return &subj
	}
	return nil
}

// parseDescription reads an optional description, not too long.
func parseDescription(e *fieldErrors, f Field[string]) *string {
	v := str(e, "description", f)
	if v != nil && len(*v) > ticket.MaxDescriptionBytes {
		e.add("description", fmt.Sprintf("must be at most %d bytes", ticket.MaxDescriptionBytes))
		return nil
	}
	return v
}

// ticketChange is a change resolved against the ticket and the store: the
// Update to send and the text it refers to.
type ticketChange struct {
	req workflows.ChangeRequest
	// moves: a status, priority, assignee, team or category differs from
	// the ticket's.
	moves  bool
	text   map[string]string
	fields map[string]any // normalized custom field changes
}

// changeTicket is PATCH /tickets/{id}: any of status, priority, assignee,
// team, subject, description, category, custom fields and tags, validated
// as a whole and applied all-or-nothing by one Update.
func (s *Server) changeTicket(c *fiber.Ctx) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	in, errs, err := parseChange(c.Body())
	if err != nil {
		return err
	}
	p, cur, ctx := principalOf(c), currentTicket(c), c.UserContext()
	ch, rerrs, err := s.resolveChange(ctx, p, cur, in)
	if err != nil {
		return err
	}
	errs = append(errs, rerrs...)
	id, fe := requestID(c, "chg", p.User.ID, cur.Number)
	if fe != nil {
		errs = append(errs, *fe)
	}
	if len(errs) > 0 {
		return invalid("the change is not valid", errs...)
	}
	if cur.ArchivedAt != nil {
		return archivedProblem(cur.Number)
	}
	if !ch.moves && len(ch.req.Text) == 0 {
		// Every value is what the ticket already has.
		return s.sendTicket(c, fiber.StatusOK, s.detail(cur))
	}
	if ch.req.Assignee != nil {
		// The planner decides who may assign whom, against the assignee
		// the ticket has when the change applies; it needs the access
		// policy's answers for this person.
		if ch.req.Rights, err = s.assignRights(p); err != nil {
			return err
		}
	}
	ch.req.RequestID = id
	return s.sendChange(c, cur, ch)
}

// resolveChange turns a parsed change into the Update for ticket cur: it
// looks up the assignee and team, checks the category and custom fields
// against the catalog, and leaves out what the ticket already has.
// Unknown references and invalid values are field errors.
func (s *Server) resolveChange(ctx context.Context, p *identity.Principal, cur ticket.Ticket, in changeInput) (ticketChange, []FieldError, error) {
	ch := ticketChange{req: workflows.ChangeRequest{Actor: actorOf(p), Status: in.status, Priority: in.priority}, text: map[string]string{}}
	ch.moves = in.status != nil && *in.status != cur.Status || in.priority != nil && *in.priority != cur.Priority
	var errs []FieldError
	for _, r := range []struct {
		ref     refValue
		field   string
		resolve func(context.Context, string, refValue) (*int64, *FieldError, error)
		current *int64
		into    **workflows.IDChange
	}{{in.assignee, "assignee", s.resolveAssignee, cur.AssigneeID, &ch.req.Assignee}, {in.team, "team", s.resolveTeam, cur.TeamID, &ch.req.Team}} {
		if !r.ref.present {
			continue
		}
		id, fe, err := r.resolve(ctx, r.field, r.ref)
		if err != nil {
			return ch, nil, err
		}
		if fe != nil {
			errs = append(errs, *fe)
			continue
		}
		*r.into = &workflows.IDChange{ID: id}
		ch.moves = ch.moves || !lifecycle.SameID(id, r.current)
	}
	for _, t := range []struct {
		field   string
		v       *string
		current string
	}{{"subject", in.subject, cur.Subject}, {"description", in.description, cur.Description}} {
		if t.v != nil && *t.v != t.current {
			ch.text[t.field] = *t.v
			ch.req.Text = append(ch.req.Text, t.field)
		}
	}
	if adds, removes, problem := lifecycle.TagChange(cur.Tags, in.tagsAdd, in.tagsRemove); problem != nil {
		errs = append(errs, FieldError{Field: problem.Field, Detail: problem.Detail})
	} else if len(adds)+len(removes) > 0 {
		ch.req.TagsAdd, ch.req.TagsRemove = adds, removes
		ch.moves = true
	}
	category := cur.CategoryID
	if in.categorySet {
		category = in.category
		if !lifecycle.SameID(category, cur.CategoryID) {
			ch.req.Category = &workflows.IDChange{ID: category}
			ch.moves = true
		}
	}
	ferrs, err := s.resolveFields(ctx, p, cur, in, category, &ch)
	if err != nil {
		return ch, nil, err
	}
	return ch, append(errs, ferrs...), nil
}

// resolveFields validates the custom fields sent against category, the
// one the ticket will have (when it changes, all of the ticket's), and
// adds the changes to ch. Whether the ticket may be resolved with the
// values it then has is the planner's rule (lifecycle.PlanChange).
func (s *Server) resolveFields(ctx context.Context, p *identity.Principal, cur ticket.Ticket, in changeInput, category *int64,
	ch *ticketChange) ([]FieldError, error) {
	if in.fields == nil && ch.req.Category == nil {
		return nil, nil
	}
	input := in.fields
	if input == nil {
		input = map[string]json.RawMessage{}
	}
	current := catalog.Values(cur.CustomFields)
	if current == nil {
		current = catalog.Values{}
	}
	fc, errs, err := s.ticketCatalog(ctx, p, category, ch.req.Category != nil, input, current)
	if err != nil {
		return nil, err
	}
	if ch.fields = fc; len(fc) > 0 {
		ch.text["custom_fields"] = ""
		ch.req.Text = append(ch.req.Text, "custom_fields")
	}
	return errs, nil
}

// sendChange stores the change's text under its request ID (text never
// enters workflow history), sends the Update and answers the ticket as it
// is afterwards.
func (s *Server) sendChange(c *fiber.Ctx, cur ticket.Ticket, ch ticketChange) error {
	ctx := c.UserContext()
	id := ch.req.RequestID
	if len(ch.text) > 0 {
		payload := map[string]any{}
		for k, v := range ch.text {
			payload[k] = v
		}
		if len(ch.fields) > 0 {
			payload["custom_fields"] = ch.fields
		}
		if err := s.store.PutRequestPayload(ctx, id, cur.Number, payload); err != nil {
			return err
		}
	}
	if _, err := s.sendUpdate(ctx, cur.Number, workflows.UpdateChange, id, ch.req); err != nil {
		return err
	}
	t, err := s.store.Ticket(ctx, cur.Number)
	if err != nil {
		return err
	}
	return s.sendTicket(c, fiber.StatusOK, s.detail(t))
}

// assignRights are the access policy's answers the planner's assignment
// rule needs (lifecycle.AssignRights): may this person give a ticket to
// someone else (assign), and change the assignee of a ticket assigned to
// someone else (reassign).
func (s *Server) assignRights(p *identity.Principal) (*workflows.AssignRights, error) {
	assign, err := s.may(p, "assign")
	if err != nil {
		return nil, err
	}
	reassign, err := s.may(p, "reassign")
	if err != nil {
		return nil, err
	}
	return &workflows.AssignRights{Assign: assign, Reassign: reassign}, nil
}

// reopenTicket is POST /tickets/{id}/reopen: a resolved or closed ticket
// moves back to open while its reopen window lasts.
func (s *Server) reopenTicket(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	p := principalOf(c)
	cur := currentTicket(c)
	id, fe := requestID(c, "reo", p.User.ID, cur.Number)
	if fe != nil {
		return invalid("the request is not valid", *fe)
	}
	if cur.ArchivedAt != nil {
		return archivedProblem(cur.Number)
	}
	// The workflow decides (workflows/lifecycle.go): a resolved or closed
	// ticket reopens, an open one stays as it is (what a retried reopen
	// finds), one in progress or pending is a conflict.
	open := ticket.StatusOpen
	req := workflows.ChangeRequest{RequestID: id, Actor: actorOf(p), Status: &open, Reason: ticket.ReasonReopen}
	if _, err := s.sendUpdate(c.UserContext(), cur.Number, workflows.UpdateChange, id, req); err != nil {
		return err
	}
	t, err := s.store.Ticket(c.UserContext(), cur.Number)
	if err != nil {
		return err
	}
	return s.sendTicket(c, fiber.StatusOK, s.detail(t))
}
