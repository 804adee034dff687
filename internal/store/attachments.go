package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Attachment is one file attached to a ticket. The API stores it before
// the ticket's workflow records it; Seq stays nil until the "attachment"
// event is durable, and only attachments with a Seq are ever served.
type Attachment struct {
	ID           int64
	TicketNumber int64
	RequestID    string
	Seq          *int64
	Filename     string
	ContentType  string
	Size         int64
	SHA256       []byte
	// Content is only filled by the reads that say so.
	Content    []byte
	Internal   bool
	UploaderID *int64
	CreatedAt  time.Time
}

// NewAttachment is an upload to store.
type NewAttachment struct {
	TicketNumber int64
	RequestID    string
	Filename     string
	ContentType  string
	SHA256       []byte
	Content      []byte
	Internal     bool
	UploaderID   *int64
}

// ErrAttachmentLimit is returned when a ticket already holds the most
// attachments it may have.
var ErrAttachmentLimit = errors.New("store: the ticket has reached its attachment limit")

const attachmentColumns = `id, ticket_number, request_id, seq, filename, content_type, size, sha256, internal, uploader_id, created_at`

func scanAttachment(row pgx.Row, withContent bool) (Attachment, error) {
	var a Attachment
	dest := []any{&a.ID, &a.TicketNumber, &a.RequestID, &a.Seq, &a.Filename, &a.ContentType, &a.Size, &a.SHA256,
		&a.Internal, &a.UploaderID, &a.CreatedAt}
	if withContent {
		dest = append(dest, &a.Content)
	}
	err := row.Scan(dest...)
	return a, err
}

// CreateAttachment stores an upload not yet linked to an event. A request
// ID already stored returns that row with created false (the caller
// compares it with the upload to tell a retry from a reused key); the row
// may belong to another ticket. A new row is refused with
// ErrAttachmentLimit when the ticket already has limit rows, linked or not
// (limit <= 0: no limit); concurrent uploads to one ticket are serialized
// so they cannot overshoot it together.
func (s *Store) CreateAttachment(ctx context.Context, a NewAttachment, limit int) (out Attachment, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out, err = scanAttachment(tx.QueryRow(ctx, `SELECT `+attachmentColumns+` FROM attachments WHERE request_id = $1`, a.RequestID), false)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// The ticket's row lock orders uploads to one ticket; it does not
		// conflict with the foreign key checks of other writers.
		var n int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM attachments WHERE ticket_number = $1)
			FROM tickets WHERE number = $1 FOR NO KEY UPDATE`, a.TicketNumber).Scan(&n); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if limit > 0 && n >= limit {
			return ErrAttachmentLimit
		}
		out, err = scanAttachment(tx.QueryRow(ctx, `INSERT INTO attachments
			(ticket_number, request_id, filename, content_type, size, sha256, content, internal, uploader_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (request_id) DO NOTHING
			RETURNING `+attachmentColumns,
			a.TicketNumber, a.RequestID, a.Filename, a.ContentType, int64(len(a.Content)), a.SHA256, a.Content,
			a.Internal, a.UploaderID), false)
		if errors.Is(err, pgx.ErrNoRows) {
			// A concurrent request with the same ID won the insert.
			out, err = scanAttachment(tx.QueryRow(ctx, `SELECT `+attachmentColumns+` FROM attachments WHERE request_id = $1`, a.RequestID), false)
			return err
		}
		created = err == nil
		return err
	})
	if err != nil {
		if errors.Is(err, ErrAttachmentLimit) || errors.Is(err, ErrNotFound) {
			return Attachment{}, false, err
		}
		return Attachment{}, false, fmt.Errorf("store: create attachment for ticket %d: %w", a.TicketNumber, err)
	}
	return out, created, nil
}

// DeleteUnlinkedAttachment removes an attachment the workflow refused to
// record. A linked one (its event is durable) is never deleted.
func (s *Store) DeleteUnlinkedAttachment(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM attachments WHERE id = $1 AND seq IS NULL`, id); err != nil {
		return fmt.Errorf("store: delete attachment %d: %w", id, err)
	}
	return nil
}

// AttachmentInfo reads an attachment of a ticket without its content,
// linked or not. ErrNotFound when the ticket has no such attachment.
func (s *Store) AttachmentInfo(ctx context.Context, ticketNumber, id int64) (Attachment, error) {
	a, err := scanAttachment(s.pool.QueryRow(ctx, `SELECT `+attachmentColumns+` FROM attachments
		WHERE id = $1 AND ticket_number = $2`, id, ticketNumber), false)
	if errors.Is(err, pgx.ErrNoRows) {
		return Attachment{}, ErrNotFound
	}
	if err != nil {
		return Attachment{}, fmt.Errorf("store: attachment %d of ticket %d: %w", id, ticketNumber, err)
	}
	return a, nil
}

// LinkedAttachment reads an attachment of a ticket with its content, only
// once its event is durable; internal ones only when includeInternal.
// ErrNotFound otherwise.
func (s *Store) LinkedAttachment(ctx context.Context, ticketNumber, id int64, includeInternal bool) (Attachment, error) {
	a, err := scanAttachment(s.pool.QueryRow(ctx, `SELECT `+attachmentColumns+`, content FROM attachments
		WHERE id = $1 AND ticket_number = $2 AND seq IS NOT NULL AND (NOT internal OR $3)`,
		id, ticketNumber, includeInternal), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Attachment{}, ErrNotFound
	}
	if err != nil {
		return Attachment{}, fmt.Errorf("store: attachment %d of ticket %d: %w", id, ticketNumber, err)
	}
	return a, nil
}

// ListAttachments lists a ticket's linked attachments (without content)
// in the order they were recorded; internal ones only when includeInternal.
func (s *Store) ListAttachments(ctx context.Context, ticketNumber int64, includeInternal bool) ([]Attachment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+attachmentColumns+` FROM attachments
		WHERE ticket_number = $1 AND seq IS NOT NULL AND (NOT internal OR $2)
		ORDER BY seq, id`, ticketNumber, includeInternal)
	if err != nil {
		return nil, fmt.Errorf("store: list attachments of ticket %d: %w", ticketNumber, err)
	}
	defer rows.Close()
	out := []Attachment{}
	for rows.Next() {
		a, err := scanAttachment(rows, false)
		if err != nil {
			return nil, fmt.Errorf("store: list attachments of ticket %d: %w", ticketNumber, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list attachments of ticket %d: %w", ticketNumber, err)
	}
	return out, nil
}
