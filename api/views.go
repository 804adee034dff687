package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Staff see tickets whole; everyone else (requesters) through
// ticket.ForRequester, in every answer that carries a ticket: single
// reads, lists, search, changes, reopen, follow-ups. docs/api.md,
// "What requesters see".

// staffView reports whether p sees tickets whole: whoever may write
// internal comments, the same rule that shows internal comments and
// attachments in history.
func (s *Server) staffView(p *identity.Principal) (bool, error) {
	return s.seesInternal(p)
}

// fieldsFor lists the custom field definitions p may know of: all of them
// for staff, the ones visible to requesters for everyone else. A hidden
// field is to a requester what a field that does not exist is: it is not
// listed, cannot be set and cannot be filtered by.
func (s *Server) fieldsFor(ctx context.Context, p *identity.Principal) ([]catalog.Field, error) {
	fs, err := s.store.CustomFields(ctx)
	if err != nil {
		return nil, err
	}
	staff, err := s.staffView(p)
	if err != nil || staff {
		return fs, err
	}
	return catalog.ForRequesters(fs), nil
}

// ticketsFor names the tickets' categories and shapes them for the
// caller: ts itself for staff, their requester views otherwise.
func (s *Server) ticketsFor(c *fiber.Ctx, ts []ticket.Ticket) (any, error) {
	views, err := s.shape(c, ts)
	if err != nil || views == nil {
		return ts, err
	}
	return views, nil
}

// ticketFor is ticketsFor of one ticket.
func (s *Server) ticketFor(c *fiber.Ctx, t ticket.Ticket) (any, error) {
	ts := []ticket.Ticket{t}
	views, err := s.shape(c, ts)
	if err != nil || views == nil {
		return ts[0], err
	}
	return views[0], nil
}

// shape names the categories of ts in place and returns their requester
// views, or nil when the caller sees tickets whole.
func (s *Server) shape(c *fiber.Ctx, ts []ticket.Ticket) ([]ticket.RequesterView, error) {
	staff, err := s.staffView(principalOf(c))
	if err != nil {
		return nil, err
	}
	return s.shapeFor(c.UserContext(), staff, ts)
}

// shapeFor is shape for a caller who is staff or not, outside a request
// (a streamed answer).
func (s *Server) shapeFor(ctx context.Context, staff bool, ts []ticket.Ticket) ([]ticket.RequesterView, error) {
	if err := s.nameCategories(ctx, ts); err != nil {
		return nil, err
	}
	if staff {
		return nil, nil
	}
	// The definitions are read only when some value needs them; without
	// them every value would be hidden.
	var fields ticket.FieldVisibility
	for _, t := range ts {
		if len(t.CustomFields) > 0 {
			defs, err := s.store.CustomFields(ctx)
			if err != nil {
				return nil, err
			}
			fields = ticket.RequesterFields(defs)
			break
		}
	}
	views := make([]ticket.RequesterView, len(ts))
	for i, t := range ts {
		views[i] = ticket.ForRequester(t, fields)
	}
	return views, nil
}

// sendTicket answers one ticket as the caller may see it.
func (s *Server) sendTicket(c *fiber.Ctx, status int, t ticket.Ticket) error {
	v, err := s.ticketFor(c, t)
	if err != nil {
		return err
	}
	return c.Status(status).JSON(v)
}
