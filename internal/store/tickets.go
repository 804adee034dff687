package store

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Event is one ticket_events row (lifecycle.Event).
type Event = lifecycle.Event

const ticketColumns = `number, subject, description, status, priority, assignee_id, created_at, updated_at, last_seq`

// ticketSelect reads tickets as alias t, with the requester's organization
// (the search projection and organization-wide visibility need it).
const ticketSelect = `SELECT ` + ticketSelectList + ` FROM ` + ticketFrom

// ticketSelectList and ticketFrom are ticketSelect's parts, for queries
// that read more columns beside a ticket's (searchdocs.go).
const (
	ticketSelectList = `t.number, t.subject, t.description, t.status, t.priority, t.assignee_id, a.email,
	t.created_at, t.updated_at, t.last_seq, t.requester_id, t.team_id, u.organization_id,
	t.sla_due_at, t.first_response_due_at, t.resolution_due_at, t.first_responded_at, t.resolved_at,
	t.closed_at, t.expired_at, t.archived_at, t.escalation_level, t.reopen_count, t.linked_ticket,
	t.category_id, t.custom_fields, t.tags, t.channel`
	ticketFrom = `tickets t LEFT JOIN users u ON u.id = t.requester_id LEFT JOIN users a ON a.id = t.assignee_id`
)

func scanTicket(row pgx.Row) (ticket.Ticket, error) {
	var t ticket.Ticket
	err := row.Scan(ticketDest(&t)...)
	return t, err
}

// ticketDest is where a row of ticketSelectList's columns goes.
func ticketDest(t *ticket.Ticket) []any {
	return []any{&t.Number, &t.Subject, &t.Description, &t.Status, &t.Priority, &t.AssigneeID, &t.Assignee,
		&t.CreatedAt, &t.UpdatedAt, &t.Seq, &t.RequesterID, &t.TeamID, &t.RequesterOrgID,
		&t.SLADueAt, &t.FirstResponseDueAt, &t.ResolutionDueAt, &t.FirstRespondedAt, &t.ResolvedAt,
		&t.ClosedAt, &t.ExpiredAt, &t.ArchivedAt, &t.EscalationLevel, &t.ReopenCount, &t.LinkedTicket,
		&t.CategoryID, &t.CustomFields, &t.Tags, &t.Channel}
}

// CreateTicketFromReservation writes a new ticket and its "created" event,
// taking subject and description from the creation request stored with
// the number's reservation. The statements go in one batch, which
// PostgreSQL runs as one implicit transaction in one round trip. It is
// idempotent: a retry after a crash finds both rows and returns the stored
// ticket unchanged. ErrNotFound means no request is reserved under number.
func (s *Store) CreateTicketFromReservation(ctx context.Context, t ticket.Ticket, ev Event, outbox []Notification) (ticket.Ticket, error) {
	out, err := createFromReservation(ctx, s.pool, t, ev, outbox)
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("store: create ticket %d: %w", t.Number, err)
	}
	return out, nil
}

// batchSender is a pool or a transaction.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// createFromReservation is CreateTicketFromReservation in one round trip
// on db (its statements run as one implicit transaction on the pool, or
// inside the caller's).
func createFromReservation(ctx context.Context, db batchSender, t ticket.Ticket, ev Event, outbox []Notification) (ticket.Ticket, error) {
	data, err := ticket.EncodePayload(ev.Data)
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("encode event: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tickets (`+ticketColumns+`, requester_id, team_id, linked_ticket,
		        sla_due_at, first_response_due_at, resolution_due_at, category_id, custom_fields, channel)
		 SELECT $1, k.payload->>'subject', coalesce(k.payload->>'description', ''), $2, $3, $4, $5, $5, $6,
		        (k.payload->>'requester_id')::bigint, (k.payload->>'team_id')::bigint,
		        (k.payload->>'linked_ticket')::bigint, $7, $8, $9,
		        (k.payload->>'category_id')::bigint, coalesce(k.payload->'custom_fields', '{}'),
		        coalesce(k.payload->>'channel', 'api')
		 FROM idempotency_keys k WHERE k.ticket_number = $1
		 ON CONFLICT (number) DO NOTHING`,
		t.Number, t.Status, t.Priority, t.AssigneeID, t.CreatedAt, ev.Seq, t.SLADueAt, t.FirstResponseDueAt, t.ResolutionDueAt)
	b.Queue(`INSERT INTO ticket_events (ticket_number, seq, kind, actor, data, created_at)
		 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tickets WHERE number = $1)
		 ON CONFLICT (ticket_number, seq) DO NOTHING`,
		t.Number, ev.Seq, ev.Kind, ev.Actor, data, ev.CreatedAt)
	for _, n := range outbox {
		raw, err := ticket.EncodePayload(n.Data)
		if err != nil {
			return ticket.Ticket{}, fmt.Errorf("encode notification: %w", err)
		}
		b.Queue(`INSERT INTO outbox (ticket_number, seq, kind, payload, created_at)
			 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tickets WHERE number = $1)
			 ON CONFLICT (ticket_number, seq, kind) DO NOTHING`, t.Number, n.Seq, n.Kind, raw, ev.CreatedAt)
	}
	b.Queue(ticketSelect+` WHERE t.number = $1`, t.Number)
	br := db.SendBatch(ctx, b)
	var out ticket.Ticket
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	for range outbox {
		if err == nil {
			_, err = br.Exec()
		}
	}
	if err == nil {
		out, err = scanTicket(br.QueryRow())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Ticket{}, fmt.Errorf("no creation request reserved: %w", ErrNotFound)
	}
	return out, err
}

// Ticket returns one ticket by number.
func (s *Store) Ticket(ctx context.Context, number int64) (ticket.Ticket, error) {
	return s.TicketInScope(ctx, number, "", nil)
}

// TicketInScope returns a ticket only if it satisfies the caller's scope
// predicate (over alias t; "" means every ticket). A ticket outside the
// scope is ErrNotFound, exactly like a missing one.
func (s *Store) TicketInScope(ctx context.Context, number int64, scopeSQL string, scopeArgs []any) (ticket.Ticket, error) {
	q := ticketSelect + ` WHERE t.number = $1`
	args := []any{number}
	if scopeSQL != "" {
		q += ` AND ` + scopeSQL
		args = append(args, scopeArgs...)
	}
	t, err := scanTicket(s.pool.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Ticket{}, fmt.Errorf("store: ticket %d: %w", number, ErrNotFound)
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("store: ticket %d: %w", number, err)
	}
	return t, nil
}

// ListTickets returns up to limit tickets, newest first, with numbers below
// before (0 means from the newest), filtered inside the query by the
// caller's scope predicate (over alias t, its placeholders numbered from $3;
// "" means every ticket). The number is the keyset cursor: it never changes
// and new tickets only appear above it.
func (s *Store) ListTickets(ctx context.Context, limit int, before int64, scopeSQL string, scopeArgs []any) ([]ticket.Ticket, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	q := ticketSelect + ` WHERE t.number < $2`
	if scopeSQL != "" {
		q += ` AND ` + scopeSQL
	}
	q += ` ORDER BY t.number DESC LIMIT $1`
	rows, err := s.pool.Query(ctx, q, append([]any{limit, before}, scopeArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("store: list tickets: %w", err)
	}
	defer rows.Close()
	out := make([]ticket.Ticket, 0, limit)
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tickets: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tickets: %w", err)
	}
	return out, nil
}

// Events returns a ticket's history in order.
func (s *Store) Events(ctx context.Context, number int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT ticket_number, seq, kind, actor, data, created_at FROM ticket_events
		 WHERE ticket_number = $1 ORDER BY seq`, number)
	if err != nil {
		return nil, fmt.Errorf("store: events of ticket %d: %w", number, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var raw []byte
		err := rows.Scan(&e.TicketNumber, &e.Seq, &e.Kind, &e.Actor, &raw, &e.CreatedAt)
		if err == nil {
			e.Data, err = ticket.DecodeEvent(e.Kind, raw)
		}
		if err != nil {
			return nil, fmt.Errorf("store: events of ticket %d: %w", number, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of ticket %d: %w", number, err)
	}
	return out, nil
}

// TicketsByNumber returns the tickets with these numbers that satisfy the
// caller's scope (over alias t, placeholders from $2; nil: every ticket), in
// the order of numbers. Missing or out-of-scope numbers are left out.
func (s *Store) TicketsByNumber(ctx context.Context, numbers []int64, scope ScopeFunc) ([]ticket.Ticket, error) {
	if len(numbers) == 0 {
		return []ticket.Ticket{}, nil
	}
	q := ticketSelect + ` WHERE t.number = ANY($1)`
	args := []any{numbers}
	if scope != nil {
		pred, sargs := scope("t", 2)
		q += ` AND ` + pred
		args = append(args, sargs...)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: tickets by number: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ticket.Ticket, error) { return scanTicket(r) })
	if err != nil {
		return nil, fmt.Errorf("store: tickets by number: %w", err)
	}
	byNumber := make(map[int64]ticket.Ticket, len(found))
	for _, t := range found {
		byNumber[t.Number] = t
	}
	out := make([]ticket.Ticket, 0, len(found))
	for _, n := range numbers {
		if t, ok := byNumber[n]; ok {
			out = append(out, t)
		}
	}
	return out, nil
}
