package api

import (
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

// maxCommentBytes bounds a comment body (like a ticket's description).
const maxCommentBytes = 64 << 10

// commentBody is a POST /tickets/{id}/comments body.
type commentBody struct {
	Body     Field[string] `json:"body"`
	Internal Field[bool]   `json:"internal"`
}

// parseComment reads a comment: its text (required, not blank, at most
// maxCommentBytes) and whether it is internal.
func parseComment(body []byte) (text string, internal bool, errs []FieldError, err error) {
	var b commentBody
	if err := decodeBody(body, &b); err != nil {
		return "", false, nil, err
	}
	text, internal, errs = checkComment(b)
	return text, internal, errs, nil
}

// checkComment checks a decoded comment (parseComment; a bulk action's
// comment).
func checkComment(b commentBody) (text string, internal bool, errs []FieldError) {
	var e fieldErrors
	v := str(&e, "body", b.Body)
	switch {
	case v == nil:
		if !e.has("body") {
			e.add("body", "is required")
		}
	case strings.TrimSpace(*v) == "":
		e.add("body", "must not be empty")
	case len(*v) > maxCommentBytes:
		e.add("body", fmt.Sprintf("must be at most %d bytes", maxCommentBytes))
	default:
		text = *v
	}
	if in := boolean(&e, "internal", b.Internal); in != nil {
		internal = *in
	}
	return text, internal, e
}

// addComment is POST /tickets/{id}/comments. The body is stored in
// PostgreSQL under the request ID first; the comment Update names only the
// ID, so text never enters workflow history. On a ticket closed for good,
// the requester's reply opens a new ticket linked to it instead.
func (s *Server) addComment(c *fiber.Ctx) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	body, internal, errs, err := parseComment(c.Body())
	if err != nil {
		return err
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
			return s.followUp(c, p, cur, body, id)
		}
		return archivedProblem(cur.Number)
	}
	if err := s.store.PutRequestPayload(ctx, id, cur.Number, map[string]string{"body": body}); err != nil {
		return err
	}
	res, err := s.sendUpdate(ctx, cur.Number, workflows.UpdateComment, id,
		workflows.CommentRequest{RequestID: id, Actor: actorOf(p), Internal: internal})
	if err != nil {
		if followUp && isArchivedProblem(err) {
			// The reopen window ended while this request was on its way.
			return s.followUp(c, p, cur, body, id)
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
