package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

// listTickets is GET /tickets: newest first by default, or the work queue
// order with sort=urgency (priority, then SLA due time, then age), filtered
// by status, assignee and team, always within the caller's scope.
func (s *Server) listTickets(c *fiber.Ctx) error {
	var errs []FieldError
	p := principalOf(c)
	q := store.TicketQuery{Limit: 25, Scope: s.scope(p).SQL}
	q.Limit = int(queryInt(c, "limit", 1, 100, int64(q.Limit), "must be a whole number from 1 to 100", &errs))
	staff, err := s.staffView(p)
	if err != nil {
		return err
	}
	if !staff {
		// The urgency order follows SLA deadlines, and who works a ticket
		// is internal: requesters may not infer either through a filter.
		errs = append(errs, staffOnlyParams(c.Context().QueryArgs().Has, "assignee", "team")...)
		if c.Query("sort") == "urgency" {
			errs = append(errs, FieldError{Field: "sort", Detail: "sort=urgency follows internal SLA deadlines and is for staff; requesters sort by newest"})
		}
	}
	switch v := c.Query("sort"); v {
	case "", "newest":
	case "urgency":
		q.Urgency = true
	default:
		errs = append(errs, FieldError{Field: "sort", Detail: fmt.Sprintf("unknown sort %q; want newest or urgency", v)})
	}
	if v := c.Query("cursor"); v != "" {
		ok := false
		if q.Urgency {
			var k store.UrgencyKey
			if k, ok = decodeUrgencyCursor(v); ok {
				q.After = &k
			}
		} else {
			q.Before, ok = decodeCursor(v)
		}
		if !ok {
			errs = append(errs, FieldError{Field: "cursor", Detail: "is not a cursor this API returned for this sort"})
		}
	}
	q.Statuses = parseStatuses(c.Query("status"), &errs)
	q.AssigneeID, q.Unassigned = parseAssignee(c.Query("assignee"), p.User.ID, &errs)
	switch v := c.Query("team"); v {
	case "":
	case "none":
		q.NoTeam = true
	default:
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			errs = append(errs, FieldError{Field: "team", Detail: "must be none or a team id"})
		}
		q.TeamID = &id
	}
	if v := c.Query("category_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			errs = append(errs, FieldError{Field: "category_id", Detail: "must be a category id"})
		}
		q.UnderCategory = &id
	}
	if len(errs) > 0 {
		return invalid("the query is not valid", errs...)
	}
	limit := q.Limit
	q.Limit++
	items, err := s.store.QueryTickets(c.UserContext(), q)
	if err != nil {
		return err
	}
	page := ticketPage{}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		cur := encodeCursor(last.Number)
		if q.Urgency {
			cur = encodeUrgencyCursor(store.KeyOf(last))
		}
		page.NextCursor = &cur
	}
	if page.Items, err = s.ticketsFor(c, items); err != nil {
		return err
	}
	return c.JSON(page)
}

// staffOnlyParams refuses the named query parameters, when given, to a
// caller who does not see tickets whole. Refusing by role, whatever the
// value, answers the same for every ticket, so nothing can be inferred.
// has reports whether a parameter was given.
func staffOnlyParams(has func(name string) bool, names ...string) []FieldError {
	var errs []FieldError
	for _, n := range names {
		if has(n) {
			errs = append(errs, FieldError{Field: n, Detail: fmt.Sprintf("filtering by %s is for staff; requesters do not see it", n)})
		}
	}
	return errs
}

// parseStatuses reads a comma-separated status filter ("" filters nothing).
func parseStatuses(v string, errs *[]FieldError) []ticket.Status {
	if v == "" {
		return nil
	}
	var out []ticket.Status
	for _, part := range strings.Split(v, ",") {
		st, err := ticket.ParseStatus(strings.TrimSpace(part))
		if err != nil {
			*errs = append(*errs, FieldError{Field: "status", Detail: err.Error()})
			continue
		}
		out = append(out, st)
	}
	return out
}

// parseAssignee reads the assignee filter: me, none or a user id.
func parseAssignee(v string, me int64, errs *[]FieldError) (id *int64, none bool) {
	switch v {
	case "":
		return nil, false
	case "me":
		return &me, false
	case "none":
		return nil, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		*errs = append(*errs, FieldError{Field: "assignee", Detail: "must be me, none or a user id"})
	}
	return &n, false
}

// Urgency cursors carry the whole sort key of the last ticket:
// "u:<rank>:<sla due, unix µs, or ->:<created, unix µs>:<number>".
func encodeUrgencyCursor(k store.UrgencyKey) string {
	due := "-"
	if k.SLADueAt != nil {
		due = strconv.FormatInt(k.SLADueAt.UnixMicro(), 10)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("u:%d:%s:%d:%d",
		k.Rank, due, k.CreatedAt.UnixMicro(), k.Number)))
}

func decodeUrgencyCursor(s string) (store.UrgencyKey, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.UrgencyKey{}, false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 5 || parts[0] != "u" {
		return store.UrgencyKey{}, false
	}
	var k store.UrgencyKey
	rank, err1 := strconv.Atoi(parts[1])
	created, err2 := strconv.ParseInt(parts[3], 10, 64)
	number, err3 := strconv.ParseInt(parts[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || rank < 0 || rank > len(ticket.Priorities()) || number <= 0 {
		return store.UrgencyKey{}, false
	}
	k.Rank, k.CreatedAt, k.Number = rank, time.UnixMicro(created).UTC(), number
	if parts[2] != "-" {
		due, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return store.UrgencyKey{}, false
		}
		t := time.UnixMicro(due).UTC()
		k.SLADueAt = &t
	}
	return k, true
}

// Claims try candidates in rounds of claimBatch, at most claimRounds.
const (
	claimBatch  = 10
	claimRounds = 10
)

// claimNext is POST /queue/next: the caller takes the most urgent
// unassigned open or in-progress ticket they may see. Each candidate is
// claimed through its workflow's change Update with IfUnassigned, so of
// two agents racing for a ticket exactly one gets it; the other moves on
// to the next candidate. 204 when nothing is left to claim.
func (s *Server) claimNext(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	p := principalOf(c)
	ctx := c.UserContext()
	scope := s.scope(p).SQL
	me := p.User.ID
	var tried []int64
	for round := 0; round < claimRounds; round++ {
		cands, err := s.store.ClaimCandidates(ctx, scope, tried, claimBatch)
		if err != nil {
			return err
		}
		if len(cands) == 0 {
			break
		}
		for _, t := range cands {
			tried = append(tried, t.Number)
			id := "claim-" + randomKey()
			req := workflows.ChangeRequest{RequestID: id, Actor: actorOf(p),
				Assignee: &workflows.IDChange{ID: &me}, IfUnassigned: true}
			_, err := s.sendUpdate(ctx, t.Number, workflows.UpdateChange, id, req)
			var pr *Problem
			if errors.As(err, &pr) && pr.Status == fiber.StatusConflict {
				continue // taken by someone else meanwhile, or closed for good
			}
			if err != nil {
				return err
			}
			claimed, err := s.store.Ticket(ctx, t.Number)
			if err != nil {
				return err
			}
			c.Location(ticketPath(claimed.Number))
			return s.sendTicket(c, fiber.StatusOK, claimed)
		}
	}
	return c.SendStatus(fiber.StatusNoContent)
}
