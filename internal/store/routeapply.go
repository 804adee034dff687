package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Recorder turns a routing decision into the change that records it: the
// workflow's planner (lifecycle.PlanRouted) run inside the routing
// transaction. A change without events writes nothing.
type Recorder func(Decision) Change

// Routed reports a routing decision and what recording it wrote.
type Routed struct {
	Decision Decision
	// Ticket is the row after the transaction, for the search index (nil
	// when the decision wrote nothing; CreateRouted always sets it).
	Ticket *ticket.Ticket
}

// RouteAndApply makes one routing decision and records it in the same
// transaction: the team and candidate agents stay locked until the
// assignee, the events and the outbox rows the planner made of the
// decision are written, so the next decision counts this one, and the row
// and the ticket's history cannot disagree. Idempotent: a retry finds the
// decision by its key and the change by its sequence numbers.
func (s *Store) RouteAndApply(ctx context.Context, req RouteRequest, record Recorder) (Routed, error) {
	var out Routed
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.routeAndApplyTx(ctx, tx, req, record, &out)
	})
	if err != nil {
		return Routed{}, fmt.Errorf("store: route ticket %d: %w", req.Number, err)
	}
	return out, nil
}

// CreateRouted writes a new ticket from its reservation (as
// CreateTicketFromReservation) and routes it (as RouteAndApply) in one
// transaction: one round of locks and one commit per routed create.
func (s *Store) CreateRouted(ctx context.Context, t ticket.Ticket, ev Event, outbox []Notification, req RouteRequest, record Recorder) (Routed, error) {
	var out Routed
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		created, err := createFromReservation(ctx, tx, t, ev, outbox)
		if err != nil {
			return err
		}
		if err := s.routeAndApplyTx(ctx, tx, req, record, &out); err != nil {
			return err
		}
		if out.Ticket == nil {
			out.Ticket = &created
		}
		return nil
	})
	if err != nil {
		return Routed{}, fmt.Errorf("store: create ticket %d: %w", t.Number, err)
	}
	return out, nil
}

// routeAndApplyTx decides and records in tx; out.Ticket is the row after
// it when the decision wrote events (nil when it changed nothing).
func (s *Store) routeAndApplyTx(ctx context.Context, tx pgx.Tx, req RouteRequest, record Recorder, out *Routed) error {
	if _, err := s.routeTx(ctx, tx, req, &out.Decision); err != nil {
		return err
	}
	ch := record(out.Decision)
	if len(ch.Events) == 0 {
		return nil
	}
	var applied Applied
	if err := applyTx(ctx, ch, &applied)(tx); err != nil {
		return err
	}
	if applied.Ticket.Number != 0 {
		out.Ticket = &applied.Ticket
		return nil
	}
	// A retry: the change was written before, so nothing was read back.
	t, err := scanTicket(tx.QueryRow(ctx, ticketSelect+` WHERE t.number = $1`, req.Number))
	if err != nil {
		return err
	}
	out.Ticket = &t
	return nil
}
