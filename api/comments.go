package api

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

// maxCommentBytes bounds a comment body (like a ticket's description).
const maxCommentBytes = 64 << 10

// addComment is POST /tickets/{id}/comments. The body is stored in
// PostgreSQL under the request ID first; the comment Update names only the
// ID, so text never enters workflow history. On a ticket closed for good,
// the requester's reply opens a new ticket linked to it instead.
func (s *Server) addComment(c *fiber.Ctx) error {
	obj, err := decodeObject(c, "body", "internal")
	if err != nil {
		return err
	}
	var errs []FieldError
	body := stringField(obj, "body", &errs)
	switch {
	case body == nil:
		if len(errs) == 0 {
			errs = append(errs, FieldError{Field: "body", Detail: "is required"})
		}
	case strings.TrimSpace(*body) == "":
		errs = append(errs, FieldError{Field: "body", Detail: "must not be empty"})
	case len(*body) > maxCommentBytes:
		errs = append(errs, FieldError{Field: "body", Detail: fmt.Sprintf("must be at most %d bytes", maxCommentBytes)})
	}
	internal := false
	if raw, ok := obj["internal"]; ok && !rawIsNull(raw) {
		if err := json.Unmarshal(raw, &internal); err != nil {
			errs = append(errs, FieldError{Field: "internal", Detail: "must be true or false"})
		}
	}
	p := principalOf(c)
	cur := currentTicket(c)
	id, fe := requestID(c, "cmt", p.User.ID, cur.Number)
	if fe != nil {
		errs = append(errs, *fe)
	}
	if len(errs) > 0 {
		return invalid("the comment is not valid", errs...)
	}
	if internal {
		ok, err := s.may(p, "comment_internal")
		if err != nil {
			return err
		}
		if !ok {
			return forbidden(typeForbidden, fmt.Sprintf("the %s role may not add internal comments", p.User.Role))
		}
	}
	ctx := c.UserContext()
	// Only the requester's public reply turns into a follow-up ticket.
	followUp := !internal && cur.RequesterID != nil && *cur.RequesterID == p.User.ID
	if cur.ArchivedAt != nil {
		if followUp {
			return s.followUp(c, p, cur, *body, id)
		}
		return archivedProblem(cur.Number)
	}
	if err := s.store.PutRequestPayload(ctx, id, cur.Number, map[string]string{"body": *body}); err != nil {
		return err
	}
	res, err := s.sendUpdate(ctx, cur.Number, workflows.UpdateComment, id,
		workflows.CommentRequest{RequestID: id, Actor: actorOf(p), Internal: internal})
	if err != nil {
		if followUp && isArchivedProblem(err) {
			// The reopen window ended while this request was on its way.
			return s.followUp(c, p, cur, *body, id)
		}
		return err
	}
	cm, err := s.store.CommentByID(ctx, cur.Number, res.CommentID)
	if err != nil {
		return err
	}
	c.Location(fmt.Sprintf("%s/history?after_seq=%d&limit=1", ticketPath(cur.Number), cm.Seq-1))
	return c.Status(fiber.StatusCreated).JSON(cm)
}

// followUp opens a new ticket linked to an archived one, from the
// requester's reply (ticket.FollowUp: subject "Re: <old subject>", the
// reply as its description, the default priority, the old ticket's team
// and category; mail follows the same rule). The request ID
// keys the number's reservation, so a retry with the same Idempotency-Key
// finds the same new ticket.
func (s *Server) followUp(c *fiber.Ctx, p *identity.Principal, old ticket.Ticket, body, id string) error {
	draft := ticket.FollowUp(old, p.User.ID, "", body, ticket.Priority(s.cfg.DefaultPriority))
	key := "followup:" + id
	ctx := c.UserContext()
	res, err := s.reserve(ctx, key, draft)
	if err != nil {
		return err
	}
	status := fiber.StatusCreated
	if !res.New {
		status = fiber.StatusOK
	}
	if _, err := s.startReserved(ctx, res, key, draft); err != nil {
		return err
	}
	t, err := s.store.Ticket(ctx, res.Number)
	if err != nil {
		return err
	}
	v, err := s.ticketFor(c, t)
	if err != nil {
		return err
	}
	c.Location(ticketPath(t.Number))
	return c.Status(status).JSON(fiber.Map{"followup_ticket": v})
}
