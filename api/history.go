package api

import (
	"math"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/store"
)

// requesterHiddenKinds are event kinds requesters do not see in a
// ticket's history: how the help desk routes and escalates work is
// internal (priority and status changes stay visible).
var requesterHiddenKinds = []string{"escalated", "sla_breached", "expired", "team_changed", "assigned", "routed"}

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
}

type historyItem struct {
	Seq        int64                    `json:"seq"`
	Kind       string                   `json:"kind"`
	Actor      any                      `json:"actor"`
	At         time.Time                `json:"at"`
	Data       map[string]any           `json:"data"`
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
// not see (requesters: internal comments and attachments, routing and
// escalation events).
func (s *Server) ticketHistory(c *fiber.Ctx) error {
	var errs []FieldError
	limit := int(queryInt(c, "limit", 1, 500, 100, "must be a whole number from 1 to 500", &errs))
	after := queryInt(c, "after_seq", 0, math.MaxInt64, 0, "must be a whole number from 0", &errs)
	if len(errs) > 0 {
		return invalid("the query is not valid", errs...)
	}
	p := principalOf(c)
	staff, err := s.may(p, "comment_internal")
	if err != nil {
		return err
	}
	q := store.HistoryQuery{Number: currentTicket(c).Number, AfterSeq: after, Limit: limit + 1, ShowInternal: staff}
	if !staff {
		q.HiddenKinds = requesterHiddenKinds
	}
	rows, err := s.store.History(c.UserContext(), q)
	if err != nil {
		return err
	}
	page := historyPage{Items: make([]historyItem, 0, len(rows))}
	if len(rows) > limit {
		rows = rows[:limit]
		next := rows[limit-1].Seq
		page.NextAfterSeq = &next
	}
	for _, r := range rows {
		it := historyItem{Seq: r.Seq, Kind: r.Kind, At: r.At, Data: r.Data, Attachment: r.Attachment}
		if it.Data == nil {
			it.Data = map[string]any{}
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
		if !staff {
			// An escalation's priority raise stays visible, its rule does not.
			if reason, _ := it.Data["reason"].(string); strings.HasPrefix(reason, "escalation") {
				data := make(map[string]any, len(it.Data))
				for k, v := range it.Data {
					if k != "reason" {
						data[k] = v
					}
				}
				it.Data = data
			}
		}
		page.Items = append(page.Items, it)
	}
	return c.JSON(page)
}
