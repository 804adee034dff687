package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Event is one row of a ticket's append-only history.
type Event struct {
	TicketNumber int64
	Seq          int64
	Kind         string
	Actor        string
	Data         map[string]any
	CreatedAt    time.Time
}

const ticketColumns = `number, subject, description, status, priority, assignee, created_at, updated_at, last_seq`

func scanTicket(row pgx.Row) (ticket.Ticket, error) {
	var t ticket.Ticket
	err := row.Scan(&t.Number, &t.Subject, &t.Description, &t.Status, &t.Priority, &t.Assignee,
		&t.CreatedAt, &t.UpdatedAt, &t.Seq)
	return t, err
}

// CreateTicket writes a new ticket and its "created" event in one
// transaction. It is idempotent: a retry after a crash finds both rows and
// returns the stored ticket unchanged.
func (s *Store) CreateTicket(ctx context.Context, t ticket.Ticket, ev Event) (ticket.Ticket, error) {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("store: create ticket %d: encode event: %w", t.Number, err)
	}
	var out ticket.Ticket
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO tickets (`+ticketColumns+`)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
			 ON CONFLICT (number) DO NOTHING`,
			t.Number, t.Subject, t.Description, t.Status, t.Priority, t.Assignee, t.CreatedAt, ev.Seq)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO ticket_events (ticket_number, seq, kind, actor, data, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6)
			 ON CONFLICT (ticket_number, seq) DO NOTHING`,
			t.Number, ev.Seq, ev.Kind, ev.Actor, data, ev.CreatedAt)
		if err != nil {
			return err
		}
		out, err = scanTicket(tx.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE number = $1`, t.Number))
		return err
	})
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("store: create ticket %d: %w", t.Number, err)
	}
	return out, nil
}

// Ticket returns one ticket by number.
func (s *Store) Ticket(ctx context.Context, number int64) (ticket.Ticket, error) {
	t, err := scanTicket(s.pool.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE number = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Ticket{}, fmt.Errorf("store: ticket %d: %w", number, ErrNotFound)
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("store: ticket %d: %w", number, err)
	}
	return t, nil
}

// ListTickets returns up to limit tickets, newest first, with numbers below
// before (0 means from the newest). The number is the keyset cursor: it
// never changes and new tickets only appear above it.
func (s *Store) ListTickets(ctx context.Context, limit int, before int64) ([]ticket.Ticket, error) {
	q := `SELECT ` + ticketColumns + ` FROM tickets ORDER BY number DESC LIMIT $1`
	args := []any{limit}
	if before > 0 {
		q = `SELECT ` + ticketColumns + ` FROM tickets WHERE number < $2 ORDER BY number DESC LIMIT $1`
		args = append(args, before)
	}
	rows, err := s.pool.Query(ctx, q, args...)
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
		if err := rows.Scan(&e.TicketNumber, &e.Seq, &e.Kind, &e.Actor, &e.Data, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: events of ticket %d: %w", number, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of ticket %d: %w", number, err)
	}
	return out, nil
}
