package api

import (
	"fmt"
	"math"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/mailparse"
	"github.com/helpdesk/helpdesk/internal/store"
)

// The email channel's admin and agent views: quarantined mail (admins), and
// the mail behind a ticket with each message's original bytes (staff).

func (s *Server) listQuarantine(c *fiber.Ctx) error {
	var errs []FieldError
	limit := int(queryInt(c, "limit", 1, 200, 50, "must be a whole number from 1 to 200", &errs))
	before := queryInt(c, "before", 1, math.MaxInt64, 0, "must be a quarantine id", &errs)
	all := c.Query("released") == "true"
	if v := c.Query("released"); v != "" && v != "true" && v != "false" {
		errs = append(errs, FieldError{Field: "released", Detail: "must be true or false"})
	}
	if len(errs) > 0 {
		return invalid("the query is not valid", errs...)
	}
	items, err := s.store.ListQuarantine(c.UserContext(), limit, before, all)
	if err != nil {
		return err
	}
	out := fiber.Map{"items": nonNil(items)}
	if len(items) == limit {
		out["next_before"] = items[len(items)-1].ID
	}
	return c.JSON(out)
}

func (s *Server) quarantineEntry(c *fiber.Ctx) (store.Quarantined, []byte, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return store.Quarantined{}, nil, notFound(fmt.Sprintf("quarantine entry %q does not exist", c.Params("id")))
	}
	q, raw, err := s.store.QuarantineEntry(c.UserContext(), id)
	if isNotFound(err) {
		return q, nil, notFound(fmt.Sprintf("quarantine entry %d does not exist", id))
	}
	return q, raw, err
}

func (s *Server) getQuarantine(c *fiber.Ctx) error {
	q, _, err := s.quarantineEntry(c)
	if err != nil {
		return err
	}
	return c.JSON(q)
}

func (s *Server) getQuarantineRaw(c *fiber.Ctx) error {
	q, raw, err := s.quarantineEntry(c)
	if err != nil {
		return err
	}
	return sendRawMail(c, fmt.Sprintf("quarantine-%d.eml", q.ID), raw)
}

// releaseQuarantine processes a quarantined message again with the check
// that stopped it waived (size, attachment limits, rate limit; a reused
// Message-ID is processed under the hash of its bytes). A repeat answers
// what the first release made. A truncated entry (only the headers and a
// prefix of the body were kept) cannot be released: a prefix is not the
// message.
func (s *Server) releaseQuarantine(c *fiber.Ctx) error {
	q, raw, err := s.quarantineEntry(c)
	if err != nil {
		return err
	}
	if q.ReleasedAt != nil {
		return c.JSON(fiber.Map{"entry": q, "already_released": true})
	}
	if q.Truncated {
		again := "once the rate window has passed"
		if q.Reason == mailparse.ReasonTooLarge {
			again = "smaller, or raise mail_max_message_bytes"
		}
		return &Problem{Type: typeConflict, Title: "Cannot release", Status: fiber.StatusConflict,
			Detail: fmt.Sprintf("quarantine entry %d (%s) keeps only the headers and the first bytes of the message (%d of %d bytes): a prefix cannot be processed; download it from /api/v1/quarantine/%d/raw and ask the sender to send it again %s",
				q.ID, q.Reason, q.StoredBytes, q.Size, q.ID, again)}
	}
	switch q.Reason {
	case "unparseable", "no_sender":
		return &Problem{Type: typeConflict, Title: "Cannot release", Status: fiber.StatusConflict,
			Detail: fmt.Sprintf("quarantine entry %d is %s: processing it again would fail the same way; download it from /api/v1/quarantine/%d/raw", q.ID, q.Reason, q.ID)}
	}
	mb := config.Mailbox{Name: q.Mailbox}
	for _, m := range s.cfg.Mailboxes {
		if m.Name == q.Mailbox {
			mb = m
		}
	}
	out, err := s.mail.Release(c.UserContext(), mb, raw, q.Reason)
	if err != nil {
		return err
	}
	p := principalOf(c)
	var mailID *int64
	if out.MailID != 0 {
		mailID = &out.MailID
	}
	if err := s.store.MarkReleased(c.UserContext(), q.ID, p.User.ID, mailID); err != nil {
		return err
	}
	q, _, err = s.quarantineEntry(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"entry": q, "outcome": out})
}

// ticketMail lists the messages behind a ticket (staff only).
func (s *Server) ticketMail(c *fiber.Ctx) error {
	t := currentTicket(c)
	items, err := s.store.TicketMail(c.UserContext(), t.Number)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": nonNil(items)})
}

// ticketMailRaw downloads one message of a ticket as received or sent.
func (s *Server) ticketMailRaw(c *fiber.Ctx) error {
	t := currentTicket(c)
	id, err := strconv.ParseInt(c.Params("mid"), 10, 64)
	missing := func() error {
		c.Locals(auditDeniedKey, "message not on this ticket")
		return notFound(fmt.Sprintf("ticket %d has no message %q", t.Number, c.Params("mid")))
	}
	if err != nil || id <= 0 {
		return missing()
	}
	m, err := s.store.MailByID(c.UserContext(), id)
	if isNotFound(err) || err == nil && (m.TicketNumber == nil || *m.TicketNumber != t.Number) {
		return missing()
	}
	if err != nil {
		return err
	}
	raw, err := s.store.MailRaw(c.UserContext(), id)
	if err != nil {
		return err
	}
	return sendRawMail(c, fmt.Sprintf("ticket-%d-message-%d.eml", t.Number, id), raw)
}

// sendRawMail answers with a message's bytes as a download that no browser
// renders.
func sendRawMail(c *fiber.Ctx, name string, raw []byte) error {
	c.Set(fiber.HeaderContentType, "message/rfc822")
	c.Set(fiber.HeaderContentDisposition, contentDisposition(name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; sandbox")
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	return c.Send(raw)
}
