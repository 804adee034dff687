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

// changeTicket is PATCH /tickets/{id}: any of status, priority, assignee,
// team, subject and description, validated as a whole and applied
// all-or-nothing by one Update.
func (s *Server) changeTicket(c *fiber.Ctx) error {
	obj, err := decodeObject(c, "status", "priority", "assignee", "team", "subject", "description", "category_id", "custom_fields")
	if err != nil {
		return err
	}
	if len(obj) == 0 {
		return invalid("the body names no field to change; send any of status, priority, assignee, team, subject, description, category_id, custom_fields")
	}
	p := principalOf(c)
	cur := currentTicket(c)
	ctx := c.UserContext()
	var errs []FieldError
	for _, f := range []string{"status", "priority", "subject", "description"} {
		if raw, ok := obj[f]; ok && rawIsNull(raw) {
			errs = append(errs, FieldError{Field: f, Detail: "must be a string, not null"})
		}
	}
	req := workflows.ChangeRequest{Actor: actorOf(p)}
	changes := false
	if v := stringField(obj, "status", &errs); v != nil {
		st, err := ticket.ParseStatus(*v)
		if err != nil {
			errs = append(errs, FieldError{Field: "status", Detail: err.Error()})
		} else {
			req.Status = &st
			changes = changes || st != cur.Status
		}
	}
	if v := stringField(obj, "priority", &errs); v != nil {
		pr, err := ticket.ParsePriority(*v)
		if err != nil {
			errs = append(errs, FieldError{Field: "priority", Detail: err.Error()})
		} else {
			req.Priority = &pr
			changes = changes || pr != cur.Priority
		}
	}
	assignee, team := refField(obj, "assignee", &errs), refField(obj, "team", &errs)
	if assignee.present {
		id, fe, err := s.resolveAssignee(ctx, "assignee", assignee)
		if err != nil {
			return err
		}
		if fe != nil {
			errs = append(errs, *fe)
		} else {
			req.Assignee = &workflows.IDChange{ID: id}
			changes = changes || !sameID(id, cur.AssigneeID)
		}
	}
	if team.present {
		id, fe, err := s.resolveTeam(ctx, "team", team)
		if err != nil {
			return err
		}
		if fe != nil {
			errs = append(errs, *fe)
		} else {
			req.Team = &workflows.IDChange{ID: id}
			changes = changes || !sameID(id, cur.TeamID)
		}
	}
	text := map[string]string{}
	if v := stringField(obj, "subject", &errs); v != nil {
		subj := strings.TrimSpace(*v)
		switch n := utf8.RuneCountInString(subj); {
		case n == 0:
			errs = append(errs, FieldError{Field: "subject", Detail: "must not be empty"})
		case n > ticket.MaxSubjectRunes:
			errs = append(errs, FieldError{Field: "subject", Detail: fmt.Sprintf("must be at most %d characters, got %d", ticket.MaxSubjectRunes, n)})
		case subj != cur.Subject:
			text["subject"] = subj
			req.Text = append(req.Text, "subject")
		}
	}
	if v := stringField(obj, "description", &errs); v != nil {
		switch {
		case len(*v) > ticket.MaxDescriptionBytes:
			errs = append(errs, FieldError{Field: "description", Detail: fmt.Sprintf("must be at most %d bytes", ticket.MaxDescriptionBytes)})
		case *v != cur.Description:
			text["description"] = *v
			req.Text = append(req.Text, "description")
		}
	}
	// Category and custom fields: validated against the category the
	// ticket will have; resolving checks the fields required for it.
	category, catPresent := nullableID(obj, "category_id", &errs)
	if !catPresent {
		category = cur.CategoryID
	} else if !sameID(category, cur.CategoryID) {
		req.Category = &workflows.IDChange{ID: category}
		changes = true
	}
	input, hasFields := objectField(obj, "custom_fields", &errs)
	var fieldChanges map[string]any
	resolving := req.Status != nil && (*req.Status == ticket.StatusResolved || *req.Status == ticket.StatusClosed) && *req.Status != cur.Status
	if hasFields || req.Category != nil || resolving {
		if input == nil {
			input = map[string]json.RawMessage{}
		}
		current := catalog.Values(cur.CustomFields)
		if current == nil {
			current = catalog.Values{}
		}
		path, fc, cerrs, err := s.ticketCatalog(ctx, p, category, req.Category != nil, input, current)
		if err != nil {
			return err
		}
		errs = append(errs, cerrs...)
		fieldChanges = fc
		if resolving && len(cerrs) == 0 {
			merged := catalog.Values{}
			for k, v := range cur.CustomFields {
				merged[k] = v
			}
			for k, v := range fc {
				merged[k] = v
			}
			fields, err := s.store.CustomFields(ctx)
			if err != nil {
				return err
			}
			errs = append(errs, problemsOf(catalog.MissingToResolve(fields, path, merged))...)
		}
	}
	if len(fieldChanges) > 0 {
		text["custom_fields"] = ""
		req.Text = append(req.Text, "custom_fields")
	}
	id, fe := requestID(c, "chg", p.User.ID, cur.Number)
	if fe != nil {
		errs = append(errs, *fe)
	}
	if len(errs) > 0 {
		return invalid("the change is not valid", errs...)
	}
	if err := s.mayAssign(p, cur, req.Assignee); err != nil {
		return err
	}
	if cur.ArchivedAt != nil {
		return archivedProblem(cur.Number)
	}
	if !changes && len(req.Text) == 0 {
		// Every value is what the ticket already has.
		return s.sendTicket(c, fiber.StatusOK, s.detail(cur))
	}
	if req.Assignee != nil && cur.AssigneeID == nil && req.Assignee.ID != nil {
		// The assignment rules were checked against an unassigned ticket;
		// if someone takes it meanwhile, the change is a conflict rather
		// than a reassignment the caller may not make.
		if ok, err := s.may(p, "reassign"); err != nil {
			return err
		} else if !ok {
			req.IfUnassigned = true
		}
	}
	req.RequestID = id
	if len(text) > 0 {
		payload := map[string]any{}
		for k, v := range text {
			payload[k] = v
		}
		if len(fieldChanges) > 0 {
			payload["custom_fields"] = fieldChanges
		}
		if err := s.store.PutRequestPayload(ctx, id, cur.Number, payload); err != nil {
			return err
		}
	}
	if _, err := s.sendUpdate(ctx, cur.Number, workflows.UpdateChange, id, req); err != nil {
		return err
	}
	t, err := s.store.Ticket(ctx, cur.Number)
	if err != nil {
		return err
	}
	return s.sendTicket(c, fiber.StatusOK, s.detail(t))
}

// mayAssign applies the assignment rules to a requested assignee change:
//
//   - taking an unassigned ticket yourself, or releasing your own: update
//     (the route's action) is enough;
//   - assigning someone else: Casbin action assign (agents);
//   - changing the assignee of a ticket assigned to someone else (to
//     anyone, yourself included, or to nobody): reassign (leads, admins).
func (s *Server) mayAssign(p *identity.Principal, cur ticket.Ticket, ch *workflows.IDChange) error {
	if ch == nil || sameID(ch.ID, cur.AssigneeID) {
		return nil
	}
	if cur.AssigneeID != nil && *cur.AssigneeID != p.User.ID {
		ok, err := s.may(p, "reassign")
		if err != nil {
			return err
		}
		if !ok {
			return forbidden(typeForbidden, fmt.Sprintf("ticket #%d is assigned to someone else; the %s role may not reassign it", cur.Number, p.User.Role))
		}
		return nil
	}
	if ch.ID != nil && *ch.ID != p.User.ID {
		ok, err := s.may(p, "assign")
		if err != nil {
			return err
		}
		if !ok {
			return forbidden(typeForbidden, fmt.Sprintf("the %s role may not assign tickets to others", p.User.Role))
		}
	}
	return nil
}

func sameID(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// reopenTicket is POST /tickets/{id}/reopen: a resolved or closed ticket
// moves back to open while its reopen window lasts.
func (s *Server) reopenTicket(c *fiber.Ctx) error {
	if len(c.Body()) > 0 {
		if _, err := decodeObject(c); err != nil {
			return err
		}
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

// rawIsNull reports whether a JSON value is null.
func rawIsNull(raw json.RawMessage) bool { return strings.TrimSpace(string(raw)) == "null" }
