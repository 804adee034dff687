package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reservation is the ticket number reserved for a creation request.
type Reservation struct {
	Number int64
	// New is true when this call reserved the number; false when an earlier
	// request with the same key already had.
	New bool
	// SameRequest is false when the key was used before with another body.
	SameRequest bool
}

// ReserveTicketNumber reserves (or finds) the ticket number for an
// idempotency key. The request payload is stored with it so the workflow can
// materialize the ticket without the body passing through Temporal. Keys
// older than ttl are forgotten: their key is free for a new request.
func (s *Store) ReserveTicketNumber(ctx context.Context, key string, hash []byte, payload any, ttl time.Duration) (Reservation, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return Reservation{}, fmt.Errorf("store: reserve ticket number: encode payload: %w", err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		// Common cases in one round trip each: a known key, or a new one.
		var r Reservation
		var oldHash []byte
		var fresh bool
		err = s.pool.QueryRow(ctx,
			`SELECT ticket_number, request_hash, created_at > now() - make_interval(secs => $2)
			 FROM idempotency_keys WHERE key = $1`,
			key, ttl.Seconds()).Scan(&r.Number, &oldHash, &fresh)
		switch {
		case err == nil && fresh:
			r.SameRequest = bytes.Equal(oldHash, hash)
			return r, nil
		case err == nil:
			// Expired: the key is free again. Delete only the row we saw, so
			// a concurrent renewal is not lost.
			if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE key = $1 AND ticket_number = $2`, key, r.Number); err != nil {
				return Reservation{}, fmt.Errorf("store: reserve ticket number: forget expired key: %w", err)
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return Reservation{}, fmt.Errorf("store: reserve ticket number: %w", err)
		}
		err = s.pool.QueryRow(ctx,
			`INSERT INTO idempotency_keys (key, request_hash, ticket_number, payload)
			 VALUES ($1, $2, nextval('ticket_number_seq'), $3)
			 ON CONFLICT (key) DO NOTHING
			 RETURNING ticket_number`,
			key, hash, body).Scan(&r.Number)
		if err == nil {
			r.New, r.SameRequest = true, true
			return r, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Reservation{}, fmt.Errorf("store: reserve ticket number: %w", err)
		}
		// Another request inserted the same key between our SELECT and
		// INSERT; the next round finds its row.
	}
	return Reservation{}, fmt.Errorf("store: reserve ticket number: key %q keeps changing under concurrent requests", key)
}

// TicketExists reports whether the ticket of a reserved number is in
// PostgreSQL yet (its workflow's create Update writes it).
func (s *Store) TicketExists(ctx context.Context, number int64) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tickets WHERE number = $1)`, number).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: ticket %d exists: %w", number, err)
	}
	return ok, nil
}

// PurgeIdempotencyKeys forgets keys older than ttl whose ticket exists, so a
// reservation whose workflow has not run yet keeps its payload.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, ttl time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx,
		`DELETE FROM idempotency_keys k
		 WHERE k.created_at < now() - make_interval(secs => $1)
		   AND EXISTS (SELECT 1 FROM tickets t WHERE t.number = k.ticket_number)`,
		ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("store: purge idempotency keys: %w", err)
	}
	// The text of changes waits for its Update only seconds; after the TTL
	// every Update naming it has long been answered.
	tag2, err := s.pool.Exec(ctx, `DELETE FROM ticket_requests WHERE created_at < now() - make_interval(secs => $1)`, ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("store: purge change requests: %w", err)
	}
	// Attachments whose Update never completed (the upload timed out and
	// was not retried) are not part of the ticket; drop them with their key.
	tag3, err := s.pool.Exec(ctx, `DELETE FROM attachments WHERE seq IS NULL AND created_at < now() - make_interval(secs => $1)`, ttl.Seconds())
	if err != nil {
		return 0, fmt.Errorf("store: purge unrecorded attachments: %w", err)
	}
	return tag.RowsAffected() + tag2.RowsAffected() + tag3.RowsAffected(), nil
}
