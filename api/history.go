package api

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

type historyComment struct {
	ID       int64  `json:"id"`
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
	// UnverifiedSender: by mail from a staff address, not authenticated.
	UnverifiedSender bool `json:"unverified_sender"`
}

type historyActor struct {
	ID    int64   `json:"id"`
	Email *string `json:"email"`
	// Name stands for a staff member's email when a requester reads the
	// history: requesters learn who helped them, not their address.
	Name *string `json:"name,omitempty"`
}

type historyItem struct {
	Seq   int64  `json:"seq"`
	Kind  string `json:"kind"`
	Actor any    `json:"actor"`
	// Bulk is the bulk action (GET /bulk/{id}) that made the change; staff
	// only.
	Bulk       *string                  `json:"bulk,omitempty"`
	At         time.Time                `json:"at"`
	Data       ticket.EventPayload      `json:"data"`
	Comment    *historyComment          `json:"comment,omitempty"`
	Attachment *store.HistoryAttachment `json:"attachment,omitempty"`
}

type historyPage struct {
	Items []historyItem `json:"items"`
	// NextAfterSeq is the after_seq of the next page; null on the last.
	NextAfterSeq *int64 `json:"next_after_seq"`
}

// ticketHistory is GET /tickets/{id}/history: the timeline of changes,
// comments and attachments in event order, without what the caller may
// not see. Requesters get each event through ticket.RequesterEvent (no
// internal comments or attachments, no routing, escalation or SLA events,
// no rule reasons, only the custom fields visible to them) and staff
// members by name instead of email.
func (s *Server) ticketHistory(c *fiber.Ctx) error {
	var errs []FieldError
	limit := int(queryInt(c, "limit", 1, 500, 100, "must be a whole number from 1 to 500", &errs))
	after := queryInt(c, "after_seq", 0, math.MaxInt64, 0, "must be a whole number from 0", &errs)
	if len(errs) > 0 {
		return invalid("the query is not valid", errs...)
	}
	p := principalOf(c)
	staff, err := s.staffView(p)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	q := store.HistoryQuery{Number: currentTicket(c).Number, AfterSeq: after, Limit: limit + 1, ShowInternal: staff}
	if !staff {
		q.HiddenKinds = ticket.RequesterHiddenKinds()
	}
	rows, err := s.store.History(ctx, q)
	if err != nil {
		return err
	}
	page := historyPage{Items: make([]historyItem, 0, len(rows))}
	if len(rows) > limit {
		rows = rows[:limit]
		next := rows[limit-1].Seq
		page.NextAfterSeq = &next
	}
	if page.Items, err = s.historyItems(ctx, p, staff, rows); err != nil {
		return err
	}
	return c.JSON(page)
}

// historyItems shapes history rows for p: requesters get each event
// through ticket.RequesterEvent (events they may not see are left out) and
// staff members by name.
func (s *Server) historyItems(ctx context.Context, p *identity.Principal, staff bool, rows []store.HistoryItem) ([]historyItem, error) {
	var view *requesterHistory
	if !staff {
		var err error
		if view, err = s.requesterHistory(ctx, p, rows); err != nil {
			return nil, err
		}
	}
	items := make([]historyItem, 0, len(rows))
	for _, r := range rows {
		it := historyItem{Seq: r.Seq, Kind: r.Kind, At: r.At, Data: r.Data, Attachment: r.Attachment}
		if staff {
			it.Bulk = r.Bulk
		}
		switch {
		case r.ActorID != nil:
			it.Actor = historyActor{ID: *r.ActorID, Email: r.ActorEmail}
		case r.Actor == "" || r.Actor == "system":
			it.Actor = "system"
		default:
			it.Actor = r.Actor
		}
		if r.Comment != nil {
			it.Comment = &historyComment{ID: r.Comment.ID, Body: r.Comment.Body, Internal: r.Comment.Internal,
				UnverifiedSender: r.Comment.UnverifiedSender}
		}
		if view != nil {
			data, ok := ticket.RequesterEvent(it.Data, view.fields)
			if !ok {
				continue // next_after_seq still follows the rows read
			}
			it.Data = data
			if a, ok := it.Actor.(historyActor); ok {
				it.Actor = view.actor(a)
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// requesterHistory is what shaping one page of history for a requester
// needs: the custom fields they see and the staff among the actors.
type requesterHistory struct {
	fields ticket.FieldVisibility
	staff  map[int64]string // id -> name
}

func (s *Server) requesterHistory(ctx context.Context, p *identity.Principal, rows []store.HistoryItem) (*requesterHistory, error) {
	v := &requesterHistory{staff: map[int64]string{}}
	seen := map[int64]bool{p.User.ID: true}
	loaded := false
	for _, r := range rows {
		if r.Kind == ticket.EventFieldsChanged && !loaded {
			defs, err := s.store.CustomFields(ctx)
			if err != nil {
				return nil, err
			}
			v.fields, loaded = ticket.RequesterFields(defs), true
		}
		if r.ActorID == nil || seen[*r.ActorID] {
			continue
		}
		seen[*r.ActorID] = true
		u, err := s.ident.UserByID(ctx, *r.ActorID)
		if errors.Is(err, identity.ErrNotFound) {
			v.staff[*r.ActorID] = "" // gone: shown without an address
			continue
		}
		if err != nil {
			return nil, err
		}
		if u.Role.Staff() {
			v.staff[u.ID] = u.Name
		}
	}
	return v, nil
}

// actor is how a requester sees a user in the history: staff by name,
// fellow requesters as they are.
func (v *requesterHistory) actor(a historyActor) historyActor {
	name, ok := v.staff[a.ID]
	if !ok {
		return a
	}
	if name == "" {
		name = "Support"
	}
	return historyActor{ID: a.ID, Name: &name}
}
