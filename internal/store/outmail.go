package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// OutboxEntry is one outbox row, for the mailer.
type OutboxEntry struct {
	ID           int64
	TicketNumber int64
	Seq          int64
	Kind         string
	Payload      ticket.OutboxPayload
	CreatedAt    time.Time
	EmailState   string
}

// PendingOutboxEmail lists outbox rows not yet mailed (or skipped), oldest
// first, with id above after.
func (s *Store) PendingOutboxEmail(ctx context.Context, after int64, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM outbox WHERE email_state = 'pending' AND id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending outbox: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// OutboxByID returns one outbox row.
func (s *Store) OutboxByID(ctx context.Context, id int64) (OutboxEntry, error) {
	var e OutboxEntry
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT id, ticket_number, seq, kind, payload, created_at, email_state FROM outbox WHERE id = $1`, id).
		Scan(&e.ID, &e.TicketNumber, &e.Seq, &e.Kind, &raw, &e.CreatedAt, &e.EmailState)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	if err == nil {
		e.Payload, err = ticket.DecodeOutbox(e.Kind, raw)
	}
	if err != nil {
		return e, fmt.Errorf("store: outbox %d: %w", id, err)
	}
	return e, nil
}

// SetOutboxEmailState records what the mailer did with an outbox row.
func (s *Store) SetOutboxEmailState(ctx context.Context, id int64, state, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE outbox SET email_state = $2, email_reason = $3,
		delivered_at = CASE WHEN $2 = 'sent' THEN coalesce(delivered_at, now()) ELSE delivered_at END,
		attempts = attempts + CASE WHEN $2 = 'pending' THEN 1 ELSE 0 END
		WHERE id = $1`, id, state, ticket.CutBytes(reason, 1000))
	if err != nil {
		return fmt.Errorf("store: outbox %d email state: %w", id, err)
	}
	return nil
}

// CommentAt returns the comment written by event seq of a ticket.
func (s *Store) CommentAt(ctx context.Context, number, seq int64) (Comment, error) {
	return s.comment(ctx, fmt.Sprintf("at %d", seq), `ticket_number = $1 AND seq = $2`, number, seq)
}

// ThreadInfo is what outbound mail needs to thread into a ticket's
// conversation: every Message-ID of the ticket in order, the newest one
// received, and whether the mail that opened it asked for no automatic
// answers.
type ThreadInfo struct {
	MessageIDs        []string
	LastInbound       string
	SuppressAutoReply bool
}

// TicketThread returns the ticket's mail thread. The mail that opened the
// ticket counts before the intake has finished it (and linked it to the
// ticket): the ticket's acknowledgement can be mailed first, and must
// answer it and honour its X-Auto-Response-Suppress. It is found by the
// key that reserved the ticket's number ("mail:" + its dedupe key).
func (s *Store) TicketThread(ctx context.Context, number int64) (ThreadInfo, error) {
	var ti ThreadInfo
	rows, err := s.pool.Query(ctx, `SELECT message_id, direction, suppress_auto_reply FROM mail_messages
		WHERE message_id <> '' AND (ticket_number = $1 OR dedupe_key =
			(SELECT substring(key FROM 6) FROM idempotency_keys WHERE ticket_number = $1 AND key LIKE 'mail:%'))
		ORDER BY id`, number)
	if err != nil {
		return ti, fmt.Errorf("store: ticket thread: %w", err)
	}
	defer rows.Close()
	first := true
	for rows.Next() {
		var id, dir string
		var suppress bool
		if err := rows.Scan(&id, &dir, &suppress); err != nil {
			return ti, err
		}
		ti.MessageIDs = append(ti.MessageIDs, id)
		if dir == "in" {
			if first {
				ti.SuppressAutoReply = suppress
				first = false
			}
			ti.LastInbound = id
		}
	}
	return ti, rows.Err()
}

// RecordOutboundMail records a message the mailer is about to send for
// outbox row outboxID, with its raw bytes, before it is sent: replies to it
// thread by its Message-ID, and a retry finds it (the same key) and sends
// the same bytes again rather than another message.
func (s *Store) RecordOutboundMail(ctx context.Context, m NewMail, outboxID int64, raw []byte) (Mail, []byte, error) {
	rec, claimed, err := s.ClaimMail(ctx, m, raw)
	if err != nil {
		return Mail{}, nil, err
	}
	if claimed {
		if _, err := s.pool.Exec(ctx, `UPDATE mail_messages SET outbox_id = $2 WHERE id = $1`, rec.ID, outboxID); err != nil {
			return Mail{}, nil, fmt.Errorf("store: outbound mail: %w", err)
		}
		return rec, raw, nil
	}
	first, err := s.MailRaw(ctx, rec.ID)
	return rec, first, err
}
