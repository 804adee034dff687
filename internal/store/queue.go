package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// ScopeFunc renders the caller's ticket scope as a SQL predicate over the
// tickets alias, numbering its placeholders from argStart
// (identity.Scope.SQL has this shape).
type ScopeFunc func(alias string, argStart int) (string, []any)

// UrgencyKey is a ticket's place in the work queue order: priority rank
// (0 most urgent), then the earliest SLA deadline (nil: none, last), then
// age, then number. It is the keyset cursor of urgency-sorted lists.
type UrgencyKey struct {
	Rank      int
	SLADueAt  *time.Time
	CreatedAt time.Time
	Number    int64
}

// KeyOf returns t's place in the work queue order.
func KeyOf(t ticket.Ticket) UrgencyKey {
	return UrgencyKey{Rank: t.Priority.Rank(), SLADueAt: t.SLADueAt, CreatedAt: t.CreatedAt, Number: t.Number}
}

// TicketQuery is a filtered, sorted page of tickets.
type TicketQuery struct {
	Limit int
	// Urgency sorts by UrgencyKey; otherwise newest (highest number) first.
	Urgency bool
	// Before is the newest-first cursor: numbers below it (0: from the top).
	Before int64
	// After is the urgency cursor: tickets after this key (nil: from the top).
	After *UrgencyKey
	// Filters; zero values do not filter.
	Statuses   []ticket.Status
	AssigneeID *int64
	Unassigned bool
	TeamID     *int64
	NoTeam     bool
	// Claimable keeps unassigned tickets in open or in_progress (the work
	// queue; it matches the partial index tickets_unassigned_open).
	Claimable bool
	// UnderCategory keeps tickets in this category or any of its
	// subcategories.
	UnderCategory *int64
	// FieldsContain keeps tickets whose custom fields contain these values
	// (JSONB containment, served by the GIN index).
	FieldsContain map[string]any
	// Exclude leaves these ticket numbers out.
	Exclude []int64
	// Scope is the caller's visibility; nil means every ticket.
	Scope ScopeFunc
}

// QueryTickets returns a page of tickets matching q, filtered by the
// caller's scope inside the query.
func (s *Store) QueryTickets(ctx context.Context, q TicketQuery) ([]ticket.Ticket, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(q.Statuses) > 0 {
		ss := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			ss[i] = string(st)
		}
		where = append(where, "t.status = ANY("+arg(ss)+")")
	}
	switch {
	case q.Unassigned:
		where = append(where, "t.assignee_id IS NULL")
	case q.AssigneeID != nil:
		where = append(where, "t.assignee_id = "+arg(*q.AssigneeID))
	}
	switch {
	case q.NoTeam:
		where = append(where, "t.team_id IS NULL")
	case q.TeamID != nil:
		where = append(where, "t.team_id = "+arg(*q.TeamID))
	}
	if q.Claimable {
		where = append(where, "t.assignee_id IS NULL AND t.status IN ('open', 'in_progress')")
	}
	if q.UnderCategory != nil {
		where = append(where, "t.category_id IN ("+subtreeSQL(arg(*q.UnderCategory))+")")
	}
	if len(q.FieldsContain) > 0 {
		where = append(where, "t.custom_fields @> "+arg(q.FieldsContain))
	}
	if len(q.Exclude) > 0 {
		where = append(where, "NOT (t.number = ANY("+arg(q.Exclude)+"))")
	}
	const urgency = "t.priority_rank, coalesce(t.sla_due_at, 'infinity'::timestamptz), t.created_at, t.number"
	order := " ORDER BY t.number DESC"
	if q.Urgency {
		order = " ORDER BY " + urgency
		if k := q.After; k != nil {
			where = append(where, fmt.Sprintf("(%s) > (%s::smallint, coalesce(%s::timestamptz, 'infinity'::timestamptz), %s::timestamptz, %s::bigint)",
				urgency, arg(k.Rank), arg(k.SLADueAt), arg(k.CreatedAt), arg(k.Number)))
		}
	} else if q.Before > 0 {
		where = append(where, "t.number < "+arg(q.Before))
	}
	if q.Scope != nil {
		sql, sargs := q.Scope("t", len(args)+1)
		where = append(where, sql)
		args = append(args, sargs...)
	}
	query := ticketSelect
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += order + " LIMIT " + arg(q.Limit)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query tickets: %w", err)
	}
	defer rows.Close()
	out := make([]ticket.Ticket, 0, q.Limit)
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("store: query tickets: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: query tickets: %w", err)
	}
	return out, nil
}

// ClaimCandidates returns up to limit unassigned open or in-progress
// tickets in the caller's scope, most urgent first, leaving out exclude
// (tickets already tried).
func (s *Store) ClaimCandidates(ctx context.Context, scope ScopeFunc, exclude []int64, limit int) ([]ticket.Ticket, error) {
	return s.QueryTickets(ctx, TicketQuery{Limit: limit, Urgency: true, Claimable: true, Exclude: exclude, Scope: scope})
}

// subtreeSQL selects the id of category $param and of every category under it.
func subtreeSQL(param string) string {
	return `WITH RECURSIVE sub AS (SELECT id FROM categories WHERE id = ` + param +
		` UNION ALL SELECT c.id FROM categories c JOIN sub ON c.parent_id = sub.id) SELECT id FROM sub`
}
