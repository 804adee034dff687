package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// ErrMissingRequest: a change names text in ticket_requests that is not
// there (purged or never written); retrying cannot help.
var ErrMissingRequest = errors.New("store: the change's request text is missing")

// TicketRow, Notification and Change are the planner's types
// (internal/lifecycle): the store writes exactly what it decided.
type (
	TicketRow    = lifecycle.TicketRow
	Notification = lifecycle.Notification
	Change       = lifecycle.Change
)

// Applied reports what a change wrote.
type Applied struct {
	CommentID int64
	Ticket    ticket.Ticket
}

// ApplyChange writes a change idempotently: when the ticket already holds
// the change's last event, nothing is written again and the same answer
// comes back.
func (s *Store) ApplyChange(ctx context.Context, ch Change) (Applied, error) {
	if len(ch.Events) == 0 {
		return Applied{}, fmt.Errorf("store: apply change to ticket %d: no events", ch.Number)
	}
	var out Applied
	err := pgx.BeginFunc(ctx, s.pool, applyTx(ctx, ch, &out))
	if err != nil {
		return Applied{}, fmt.Errorf("store: apply change to ticket %d: %w", ch.Number, err)
	}
	if out.Ticket.Number == 0 {
		// A retry of a change already written: nothing was read back.
		t, err := s.Ticket(ctx, ch.Number)
		if err != nil {
			return Applied{}, err
		}
		out.Ticket = t
	}
	return out, nil
}

// applyTx is ApplyChange's transaction, for callers that write a change
// together with what decided it (RouteAndApply). out.CommentID is set, and
// out.Ticket unless the change was already written (a retry).
func applyTx(ctx context.Context, ch Change, out *Applied) func(pgx.Tx) error {
	last := ch.Events[len(ch.Events)-1].Seq
	return func(tx pgx.Tx) error {
		var lastSeq int64
		var subject, description string
		var fields map[string]any
		var tags []string
		err := tx.QueryRow(ctx, `SELECT last_seq, subject, description, custom_fields, tags FROM tickets WHERE number = $1 FOR UPDATE`, ch.Number).
			Scan(&lastSeq, &subject, &description, &fields, &tags)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("ticket %d: %w", ch.Number, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if lastSeq >= last {
			return tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM comments WHERE ticket_number = $1 AND seq BETWEEN $2 AND $3`,
				ch.Number, ch.Events[0].Seq, last).Scan(&out.CommentID)
		}
		if lastSeq != ch.Events[0].Seq-1 {
			return fmt.Errorf("ticket %d is at event %d; this change starts at %d", ch.Number, lastSeq, ch.Events[0].Seq)
		}
		var text struct {
			Body         string                     `json:"body"`
			Subject      string                     `json:"subject"`
			Description  string                     `json:"description"`
			CustomFields map[string]json.RawMessage `json:"custom_fields"`
			// UnverifiedSender: mail claimed a staff address unauthenticated.
			UnverifiedSender bool `json:"unverified_sender"`
		}
		needText := false
		for _, e := range ch.Events {
			switch e.Kind {
			case ticket.EventComment, ticket.EventSubjectChanged, ticket.EventDescriptionChanged, ticket.EventFieldsChanged:
				needText = true
			}
		}
		if needText {
			if err := requestText(ctx, tx, ch.Number, ch.RequestID, &text); err != nil {
				return err
			}
		}
		// Everything below goes to PostgreSQL as one batch (one round trip):
		// the events, what some of them add (a comment, an attachment's
		// link), the row, the outbox.
		n := len(ch.Events)
		seqs, kinds, raws := make([]int64, n), make([]string, n), make([][]byte, n)
		// What a comment or attachment event adds besides itself, by index.
		comments, attachments := make([]*ticket.Comment, n), make([]*ticket.Attachment, n)
		for i, e := range ch.Events {
			data := e.Data
			switch e.Kind {
			case ticket.EventSubjectChanged:
				data = ticket.TextChanged{Field: "subject", From: subject, To: text.Subject}
				subject = text.Subject
			case ticket.EventDescriptionChanged:
				data = ticket.TextChanged{Field: "description", From: description, To: text.Description}
				description = text.Description
			case ticket.EventFieldsChanged:
				// The request holds only the keys it sets (null clears), so
				// two changes to different fields never undo each other.
				merged, changes, err := mergeFields(fields, text.CustomFields)
				if err != nil {
					return fmt.Errorf("request %q: %w", ch.RequestID, err)
				}
				fields = merged
				data = ticket.FieldsChanged{Changes: changes}
			case ticket.EventTagsChanged:
				tc, ok := data.(ticket.TagsChanged)
				if !ok {
					return fmt.Errorf("event %d: tags data %T is not a tags change's", e.Seq, data)
				}
				// Only what really changes the tags the row has now.
				tags, data = lifecycle.ApplyTags(tags, tc)
			case ticket.EventComment:
				c, ok := data.(ticket.Comment)
				if !ok {
					return fmt.Errorf("event %d: comment data %T is not a comment's", e.Seq, data)
				}
				comments[i] = &c
			case ticket.EventAttachment:
				a, ok := data.(ticket.Attachment)
				if !ok {
					return fmt.Errorf("event %d: attachment data %T is not an attachment's", e.Seq, data)
				}
				attachments[i] = &a
			}
			raw, err := ticket.EncodePayload(data)
			if err != nil {
				return fmt.Errorf("event %d: %w", e.Seq, err)
			}
			seqs[i], kinds[i], raws[i] = e.Seq, e.Kind, raw
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO ticket_events (ticket_number, seq, kind, actor, data, created_at, bulk_id)
			SELECT $1, u.seq, u.kind, $4, u.data, $6, nullif($7, '') FROM unnest($2::bigint[], $3::text[], $5::jsonb[]) AS u(seq, kind, data)`,
			ch.Number, seqs, kinds, ch.Actor, raws, ch.At, ch.Bulk)
		for i := range ch.Events {
			switch {
			case comments[i] != nil:
				b.Queue(`INSERT INTO comments (ticket_number, seq, author, author_id, body, internal, unverified_sender, created_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
					ch.Number, seqs[i], ch.Actor, ch.ActorID, text.Body, comments[i].Internal, text.UnverifiedSender, ch.At)
			case attachments[i] != nil:
				b.Queue(`UPDATE attachments SET seq = $3 WHERE id = $1 AND ticket_number = $2 AND seq IS NULL`,
					attachments[i].AttachmentID, ch.Number, seqs[i])
			}
		}
		r := ch.Row
		b.Queue(`UPDATE tickets SET subject = $2, description = $3, status = $4, priority = $5,
			assignee_id = $6, team_id = $7, sla_due_at = $8, first_response_due_at = $9, resolution_due_at = $10,
			first_responded_at = $11, resolved_at = $12, closed_at = $13, expired_at = $14, archived_at = $15,
			escalation_level = $16, reopen_count = $17, last_seq = $18, updated_at = $19, category_id = $20,
			custom_fields = $21, tags = $22
			WHERE number = $1`,
			ch.Number, subject, description, r.Status, r.Priority, r.AssigneeID, r.TeamID, r.SLADueAt,
			r.FirstResponseDueAt, r.ResolutionDueAt, r.FirstRespondedAt, r.ResolvedAt, r.ClosedAt, r.ExpiredAt,
			r.ArchivedAt, r.EscalationLevel, r.ReopenCount, last, ch.At, r.CategoryID, fields, nonNil(tags))
		if len(ch.Outbox) > 0 {
			oseqs, okinds, oraws := make([]int64, len(ch.Outbox)), make([]string, len(ch.Outbox)), make([][]byte, len(ch.Outbox))
			for i, o := range ch.Outbox {
				raw, err := ticket.EncodePayload(o.Data)
				if err != nil {
					return fmt.Errorf("notification %s of event %d: %w", o.Kind, o.Seq, err)
				}
				oseqs[i], okinds[i], oraws[i] = o.Seq, o.Kind, raw
			}
			// In the plan's order: notifications are sent by outbox id.
			b.Queue(`INSERT INTO outbox (ticket_number, seq, kind, payload, created_at)
				SELECT $1, u.seq, u.kind, u.payload, $5
				FROM unnest($2::bigint[], $3::text[], $4::jsonb[]) WITH ORDINALITY AS u(seq, kind, payload, ord)
				ORDER BY u.ord
				ON CONFLICT (ticket_number, seq, kind) DO NOTHING`, ch.Number, oseqs, okinds, oraws, ch.At)
		}
		// The row as this transaction leaves it, for the search index.
		b.Queue(ticketSelect+` WHERE t.number = $1`, ch.Number)
		br := tx.SendBatch(ctx, b)
		err = readApplyBatch(br, ch, comments, attachments, out)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	}
}

// nonNil is s, or an empty slice for nil (a NOT NULL array column).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// readApplyBatch reads applyTx's batch results in the order queued: the
// events, each comment (its id) or attachment link (exactly one row), the
// row, the outbox, and the ticket as it now is (out.Ticket).
func readApplyBatch(br pgx.BatchResults, ch Change, comments []*ticket.Comment, attachments []*ticket.Attachment, out *Applied) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	for i := range ch.Events {
		switch {
		case comments[i] != nil:
			if err := br.QueryRow().Scan(&out.CommentID); err != nil {
				return err
			}
		case attachments[i] != nil:
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("attachment %d of ticket %d: %w", attachments[i].AttachmentID, ch.Number, ErrMissingRequest)
			}
		}
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	if len(ch.Outbox) > 0 {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	t, err := scanTicket(br.QueryRow())
	out.Ticket = t
	return err
}

// requestText decodes into v the text a change waits with in
// ticket_requests (PutRequestPayload); ErrMissingRequest when it is gone.
func requestText(ctx context.Context, db querier, number int64, requestID string, v any) error {
	var raw []byte
	err := db.QueryRow(ctx, `SELECT payload FROM ticket_requests WHERE request_id = $1 AND ticket_number = $2`,
		requestID, number).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("ticket %d, request %q: %w", number, requestID, ErrMissingRequest)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("request %q: %w", requestID, err)
	}
	return nil
}

// PutRequestPayload stores the text of a change under its request ID
// before the workflow is asked to apply it. Storing the same ID again
// keeps the first text (a retried request carries the same text).
func (s *Store) PutRequestPayload(ctx context.Context, requestID string, number int64, payload any) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("store: request %q: encode: %w", requestID, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ticket_requests (request_id, ticket_number, payload) VALUES ($1, $2, $3)
		ON CONFLICT (request_id) DO NOTHING`, requestID, number, raw); err != nil {
		return fmt.Errorf("store: request %q: %w", requestID, err)
	}
	return nil
}

// Outbox returns a ticket's notification requests in order (tests, admin).
func (s *Store) Outbox(ctx context.Context, number int64) ([]Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, kind, payload FROM outbox WHERE ticket_number = $1 ORDER BY id`, number)
	if err != nil {
		return nil, fmt.Errorf("store: outbox of ticket %d: %w", number, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) {
		var n Notification
		var raw []byte
		if err := row.Scan(&n.Seq, &n.Kind, &raw); err != nil {
			return n, err
		}
		var err error
		n.Data, err = ticket.DecodeOutbox(n.Kind, raw)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: outbox of ticket %d: %w", number, err)
	}
	return out, nil
}

// mergeFields applies a custom-field change (key -> new value, null
// clears) to the stored values and reports each key that really changed
// with its old and new value.
func mergeFields(cur map[string]any, set map[string]json.RawMessage) (map[string]any, map[string]ticket.FieldChange, error) {
	out := make(map[string]any, len(cur)+len(set))
	for k, v := range cur {
		out[k] = v
	}
	changes := map[string]ticket.FieldChange{}
	for k, raw := range set {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, fmt.Errorf("custom field %s: %w", k, err)
		}
		old, had := out[k]
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		oldJSON, _ := json.Marshal(old)
		newJSON, _ := json.Marshal(v)
		if had && bytes.Equal(oldJSON, newJSON) {
			continue
		}
		if !had && v == nil {
			continue
		}
		changes[k] = ticket.FieldChange{From: old, To: v}
	}
	return out, changes, nil
}
