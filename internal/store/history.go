package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Comment is one comment on a ticket. Its body lives only here, never in
// workflow history.
type Comment struct {
	ID           int64     `json:"id"`
	TicketNumber int64     `json:"ticket_id"`
	Seq          int64     `json:"seq"`
	AuthorID     *int64    `json:"author_id"`
	Body         string    `json:"body"`
	Internal     bool      `json:"internal"`
	CreatedAt    time.Time `json:"created_at"`

	// UnverifiedSender: the comment came by mail from a staff member's
	// address without proof that they sent it (docs/email.md, "Sender
	// trust"); it had no staff powers and is shown flagged.
	UnverifiedSender bool `json:"unverified_sender"`
}

// HistoryAttachment describes an attachment in a ticket's history (without
// its content).
type HistoryAttachment struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	Internal    bool   `json:"internal"`
}

// HistoryItem is one ticket_events row with the comment or attachment it
// added, and the acting user when the actor is a user.
type HistoryItem struct {
	Seq     int64
	Kind    string
	Actor   string // "user:12", "system", …
	ActorID *int64
	// Bulk names the bulk action that wrote the event, if one did.
	Bulk       *string
	ActorEmail *string
	Data       ticket.EventPayload
	At         time.Time
	Comment    *Comment
	Attachment *HistoryAttachment
}

// HistoryQuery selects a page of a ticket's history.
type HistoryQuery struct {
	Number   int64
	AfterSeq int64
	Limit    int
	// ShowInternal includes internal comments and attachments.
	ShowInternal bool
	// HiddenKinds are event kinds left out (e.g. escalations for requesters).
	HiddenKinds []string
}

// History returns a page of a ticket's timeline in event order: every
// change, with comments and attachments joined by (ticket, seq). What the
// caller may not see is filtered inside the query, so pages stay full.
func (s *Store) History(ctx context.Context, q HistoryQuery) ([]HistoryItem, error) {
	hidden := q.HiddenKinds
	if hidden == nil {
		hidden = []string{}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT e.seq, e.kind, e.actor, e.data, e.created_at, e.bulk_id, au.id, au.email,
		       c.id, c.author_id, c.body, c.internal, c.unverified_sender, c.created_at,
		       a.id, a.filename, a.size, a.content_type, a.internal
		FROM ticket_events e
		LEFT JOIN comments c ON c.ticket_number = e.ticket_number AND c.seq = e.seq
		LEFT JOIN attachments a ON a.ticket_number = e.ticket_number AND a.seq = e.seq
		LEFT JOIN users au ON au.id = CASE WHEN e.actor ~ '^user:[0-9]{1,18}$' THEN substring(e.actor FROM 6)::bigint END
		WHERE e.ticket_number = $1 AND e.seq > $2
		  AND ($4 OR (NOT coalesce(c.internal, false) AND NOT coalesce(a.internal, false)
		              AND e.data->'internal' IS DISTINCT FROM 'true'::jsonb))
		  AND NOT (e.kind = ANY($5))
		ORDER BY e.seq
		LIMIT $3`, q.Number, q.AfterSeq, q.Limit, q.ShowInternal, hidden)
	if err != nil {
		return nil, fmt.Errorf("store: history of ticket %d: %w", q.Number, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HistoryItem, error) {
		var it HistoryItem
		var cID, cAuthor *int64
		var cBody *string
		var cInternal, cUnverified *bool
		var cAt *time.Time
		var aID, aSize *int64
		var aName, aType *string
		var aInternal *bool
		var data []byte
		err := row.Scan(&it.Seq, &it.Kind, &it.Actor, &data, &it.At, &it.Bulk, &it.ActorID, &it.ActorEmail,
			&cID, &cAuthor, &cBody, &cInternal, &cUnverified, &cAt, &aID, &aName, &aSize, &aType, &aInternal)
		if err != nil {
			return it, err
		}
		if it.Data, err = ticket.DecodeEvent(it.Kind, data); err != nil {
			return it, err
		}
		if cID != nil {
			it.Comment = &Comment{ID: *cID, TicketNumber: q.Number, Seq: it.Seq, AuthorID: cAuthor,
				Body: zeroIfNil(cBody), Internal: zeroIfNil(cInternal), UnverifiedSender: zeroIfNil(cUnverified), CreatedAt: zeroIfNil(cAt)}
		}
		if aID != nil {
			it.Attachment = &HistoryAttachment{ID: *aID, Filename: zeroIfNil(aName), Size: zeroIfNil(aSize),
				ContentType: zeroIfNil(aType), Internal: zeroIfNil(aInternal)}
		}
		return it, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: history of ticket %d: %w", q.Number, err)
	}
	return out, nil
}

// CommentByID returns one comment of a ticket.
func (s *Store) CommentByID(ctx context.Context, number, id int64) (Comment, error) {
	return s.comment(ctx, fmt.Sprint(id), `id = $2 AND ticket_number = $1`, number, id)
}

// comment reads one comment of ticket number; what names it in errors.
func (s *Store) comment(ctx context.Context, what, where string, number, arg int64) (Comment, error) {
	var c Comment
	err := s.pool.QueryRow(ctx, `SELECT id, ticket_number, seq, author_id, body, internal, unverified_sender, created_at
		FROM comments WHERE `+where, number, arg).
		Scan(&c.ID, &c.TicketNumber, &c.Seq, &c.AuthorID, &c.Body, &c.Internal, &c.UnverifiedSender, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Comment{}, fmt.Errorf("store: comment %s of ticket %d: %w", what, number, ErrNotFound)
	}
	if err != nil {
		return Comment{}, fmt.Errorf("store: comment %s of ticket %d: %w", what, number, err)
	}
	return c, nil
}

func zeroIfNil[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
