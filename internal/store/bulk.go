package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/bulk"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// BulkJob is one bulk action (bulk_jobs) with its progress.
type BulkJob struct {
	ID        string
	CreatedBy int64
	CreatedAt time.Time
	// Query (with TimeZone) or IDs: how the set is resolved.
	Query    *string
	TimeZone string
	IDs      []int64
	Change   bulk.Change
	Comment  *bulk.Comment
	// RequestHash tells a repeated request from a reused Idempotency-Key.
	RequestHash string
	State       string
	// Total is the number of tickets in the snapshot (for a job by ids,
	// the ids from the start).
	Total           int
	Snapshot        bool
	CancelRequested bool
	FinishedAt      *time.Time
	Error           *string
	// Counts of items by state (filled by the reads, not by CreateBulkJob).
	Succeeded, Failed, Skipped, Cancelled int
}

// BulkFailure is one ticket a bulk action could not change.
type BulkFailure struct {
	Ticket int64
	bulk.Failure
}

const bulkJobColumns = `j.id, j.created_by, j.created_at, j.query, j.time_zone, j.ids, j.change, j.comment_body,
	j.comment_internal, j.request_hash, j.state, j.total, j.snapshot_at IS NOT NULL, j.cancel_requested_at IS NOT NULL,
	j.finished_at, j.error`

// bulkCounts adds the item counts of job alias j.
const bulkCounts = `,
	(SELECT count(*) FILTER (WHERE state = 'succeeded') FROM bulk_items WHERE job_id = j.id),
	(SELECT count(*) FILTER (WHERE state = 'failed') FROM bulk_items WHERE job_id = j.id),
	(SELECT count(*) FILTER (WHERE state = 'skipped') FROM bulk_items WHERE job_id = j.id),
	(SELECT count(*) FILTER (WHERE state = 'cancelled') FROM bulk_items WHERE job_id = j.id)`

func scanBulkJob(row pgx.Row, counts bool) (BulkJob, error) {
	var j BulkJob
	var change []byte
	var body *string
	var internal bool
	dest := []any{&j.ID, &j.CreatedBy, &j.CreatedAt, &j.Query, &j.TimeZone, &j.IDs, &change, &body,
		&internal, &j.RequestHash, &j.State, &j.Total, &j.Snapshot, &j.CancelRequested, &j.FinishedAt, &j.Error}
	if counts {
		dest = append(dest, &j.Succeeded, &j.Failed, &j.Skipped, &j.Cancelled)
	}
	if err := row.Scan(dest...); err != nil {
		return j, err
	}
	if body != nil {
		j.Comment = &bulk.Comment{Body: *body, Internal: internal}
	}
	if err := json.Unmarshal(change, &j.Change); err != nil {
		return j, fmt.Errorf("change: %w", err)
	}
	return j, nil
}

// CreateBulkJob stores a new job (state running) unless one with its ID
// exists (a repeated request): created reports which, and the job
// returned is the stored one.
func (s *Store) CreateBulkJob(ctx context.Context, j BulkJob) (BulkJob, bool, error) {
	change, err := json.Marshal(j.Change)
	if err != nil {
		return BulkJob{}, false, fmt.Errorf("store: create bulk job: %w", err)
	}
	var body *string
	internal := false
	if j.Comment != nil {
		body, internal = &j.Comment.Body, j.Comment.Internal
	}
	total := len(j.IDs)
	tag, err := s.pool.Exec(ctx, `INSERT INTO bulk_jobs (id, created_by, query, time_zone, ids, change, comment_body, comment_internal,
			request_hash, total)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
		j.ID, j.CreatedBy, j.Query, j.TimeZone, j.IDs, change, body, internal, j.RequestHash, total)
	if err != nil {
		return BulkJob{}, false, fmt.Errorf("store: create bulk job: %w", err)
	}
	stored, err := s.BulkJob(ctx, j.ID)
	return stored, tag.RowsAffected() == 1, err
}

// DeleteBulkJob removes a job that never ran (its workflow could not be
// started) with its items.
func (s *Store) DeleteBulkJob(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM bulk_jobs WHERE id = $1`, id); err != nil {
		return fmt.Errorf("store: delete bulk job %q: %w", id, err)
	}
	return nil
}

// BulkJob returns one job with its counts; ErrNotFound when there is none.
func (s *Store) BulkJob(ctx context.Context, id string) (BulkJob, error) {
	j, err := scanBulkJob(s.pool.QueryRow(ctx, `SELECT `+bulkJobColumns+bulkCounts+` FROM bulk_jobs j WHERE j.id = $1`, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return BulkJob{}, fmt.Errorf("store: bulk job %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return BulkJob{}, fmt.Errorf("store: bulk job %q: %w", id, err)
	}
	return j, nil
}

// BulkJobsBy returns the jobs a user started, newest first, with counts.
func (s *Store) BulkJobsBy(ctx context.Context, userID int64, limit int) ([]BulkJob, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+bulkJobColumns+bulkCounts+` FROM bulk_jobs j
		WHERE j.created_by = $1 ORDER BY j.created_at DESC, j.id LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: bulk jobs of user %d: %w", userID, err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BulkJob, error) { return scanBulkJob(row, true) })
	if err != nil {
		return nil, fmt.Errorf("store: bulk jobs of user %d: %w", userID, err)
	}
	return jobs, nil
}

// BulkFailures lists up to limit of a job's failed tickets, in the job's
// order.
func (s *Store) BulkFailures(ctx context.Context, id string, limit int) ([]BulkFailure, error) {
	rows, err := s.pool.Query(ctx, `SELECT ticket, coalesce(reason, ''), coalesce(detail, '') FROM bulk_items
		WHERE job_id = $1 AND state = 'failed' ORDER BY position LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("store: failures of bulk job %q: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BulkFailure, error) {
		var f BulkFailure
		err := row.Scan(&f.Ticket, &f.Reason, &f.Detail)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: failures of bulk job %q: %w", id, err)
	}
	return out, nil
}

// RequestBulkCancel asks a running job to stop: its workflow stops taking
// tickets at the next one. A job that ended is left as it is; either way
// the job is returned as it now is.
func (s *Store) RequestBulkCancel(ctx context.Context, id string) (BulkJob, error) {
	if _, err := s.pool.Exec(ctx, `UPDATE bulk_jobs SET cancel_requested_at = coalesce(cancel_requested_at, now())
		WHERE id = $1 AND state = 'running'`, id); err != nil {
		return BulkJob{}, fmt.Errorf("store: cancel bulk job %q: %w", id, err)
	}
	return s.BulkJob(ctx, id)
}

// SnapshotBulk resolves a job's set once: fill passes the ticket numbers
// to add, in order, page by page, and they become the job's items in one
// transaction. A job whose set was resolved before (a retried activity)
// keeps it: fill is not called and the total is answered again. More
// than max tickets is ErrTooMany, and nothing is kept.
func (s *Store) SnapshotBulk(ctx context.Context, id string, max int, fill func(add func([]int64) error) error) (int, error) {
	var total int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var done bool
		err := tx.QueryRow(ctx, `SELECT snapshot_at IS NOT NULL, total FROM bulk_jobs WHERE id = $1 FOR UPDATE`, id).Scan(&done, &total)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || done {
			return err
		}
		seen := map[int64]bool{}
		var position int
		err = fill(func(numbers []int64) error {
			var fresh []int64
			for _, n := range numbers {
				if !seen[n] {
					seen[n] = true
					fresh = append(fresh, n)
				}
			}
			if len(seen) > max {
				return fmt.Errorf("%w: more than %d tickets", ErrTooMany, max)
			}
			if len(fresh) == 0 {
				return nil
			}
			_, err := tx.Exec(ctx, `INSERT INTO bulk_items (job_id, ticket, position)
				SELECT $1, u.ticket, $3 + u.ord FROM unnest($2::bigint[]) WITH ORDINALITY AS u(ticket, ord)`, id, fresh, position)
			position += len(fresh)
			return err
		})
		if err != nil {
			return err
		}
		total = len(seen)
		_, err = tx.Exec(ctx, `UPDATE bulk_jobs SET snapshot_at = now(), total = $2 WHERE id = $1`, id, total)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: snapshot bulk job %q: %w", id, err)
	}
	return total, nil
}

// ErrTooMany: a bulk action's set is larger than allowed.
var ErrTooMany = errors.New("store: too many tickets")

// PendingBulkItems returns up to limit ticket numbers of a job still to
// process, in the job's order, and whether its cancellation was asked.
func (s *Store) PendingBulkItems(ctx context.Context, id string, limit int) ([]int64, bool, error) {
	var numbers []int64
	var cancel bool
	err := s.pool.QueryRow(ctx, `SELECT
			ARRAY(SELECT ticket FROM bulk_items WHERE job_id = $1 AND state = 'pending' ORDER BY position LIMIT $2),
			(SELECT cancel_requested_at IS NOT NULL FROM bulk_jobs WHERE id = $1)`, id, limit).Scan(&numbers, &cancel)
	if err != nil {
		return nil, false, fmt.Errorf("store: pending items of bulk job %q: %w", id, err)
	}
	return numbers, cancel, nil
}

// RecordBulkItem records the outcome of one of a job's tickets (once: an
// item no longer pending keeps its first outcome) and answers whether the
// job's cancellation was asked meanwhile.
func (s *Store) RecordBulkItem(ctx context.Context, id string, number int64, state string, f *bulk.Failure) (cancel bool, err error) {
	var reason, detail *string
	if f != nil {
		reason, detail = &f.Reason, &f.Detail
	}
	err = s.pool.QueryRow(ctx, `WITH done AS (
			UPDATE bulk_items SET state = $3, reason = $4, detail = $5, done_at = now()
			WHERE job_id = $1 AND ticket = $2 AND state = 'pending')
		SELECT cancel_requested_at IS NOT NULL FROM bulk_jobs WHERE id = $1`, id, number, state, reason, detail).Scan(&cancel)
	if err != nil {
		return false, fmt.Errorf("store: record ticket %d of bulk job %q: %w", number, id, err)
	}
	return cancel, nil
}

// RetryBulkItem counts an attempt at a ticket that got no answer: after
// maxAttempts the item fails with f; before, it stays pending for a later
// page. It answers whether the item failed and whether the job's
// cancellation was asked.
func (s *Store) RetryBulkItem(ctx context.Context, id string, number int64, maxAttempts int, f bulk.Failure) (failed, cancel bool, err error) {
	err = s.pool.QueryRow(ctx, `WITH tried AS (
			UPDATE bulk_items SET attempts = attempts + 1,
				state = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE state END,
				reason = CASE WHEN attempts + 1 >= $3 THEN $4 END,
				detail = CASE WHEN attempts + 1 >= $3 THEN $5 END,
				done_at = CASE WHEN attempts + 1 >= $3 THEN now() END
			WHERE job_id = $1 AND ticket = $2 AND state = 'pending'
			RETURNING state = 'failed' AS failed)
		SELECT coalesce((SELECT failed FROM tried), false), cancel_requested_at IS NOT NULL FROM bulk_jobs WHERE id = $1`,
		id, number, maxAttempts, f.Reason, f.Detail).Scan(&failed, &cancel)
	if err != nil {
		return false, false, fmt.Errorf("store: retry ticket %d of bulk job %q: %w", number, id, err)
	}
	return failed, cancel, nil
}

// FinishBulk ends a running job in state (completed, cancelled or
// failed, with errText for failed); the tickets it did not get to are
// marked cancelled. A job that already ended is left as it is.
func (s *Store) FinishBulk(ctx context.Context, id, state string, errText *string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE bulk_jobs SET state = $2, error = $3, finished_at = now() WHERE id = $1 AND state = 'running'`,
			id, state, errText)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE bulk_items SET state = 'cancelled', done_at = now() WHERE job_id = $1 AND state = 'pending'`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: finish bulk job %q: %w", id, err)
	}
	return nil
}

// BulkTouched reports which of the tickets hold events written by bulk
// action id: those a crashed attempt changed before it could record them.
func (s *Store) BulkTouched(ctx context.Context, id string, numbers []int64) (map[int64]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ticket_number FROM ticket_events WHERE ticket_number = ANY($2) AND bulk_id = $1`, id, numbers)
	if err != nil {
		return nil, fmt.Errorf("store: tickets changed by bulk job %q: %w", id, err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("store: tickets changed by bulk job %q: %w", id, err)
	}
	out := make(map[int64]bool, len(got))
	for _, n := range got {
		out[n] = true
	}
	return out, nil
}

// TicketsInScope returns those of the numbered tickets that satisfy the
// caller's scope predicate (over alias t, as TicketInScope), by number.
func (s *Store) TicketsInScope(ctx context.Context, numbers []int64, predicate string, args []any) (map[int64]ticket.Ticket, error) {
	where := ` WHERE t.number = ANY($1)`
	if predicate != "" {
		where += ` AND ` + predicate
	}
	rows, err := s.pool.Query(ctx, ticketSelect+where, append([]any{numbers}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: tickets in scope: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ticket.Ticket, error) { return scanTicket(row) })
	if err != nil {
		return nil, fmt.Errorf("store: tickets in scope: %w", err)
	}
	out := make(map[int64]ticket.Ticket, len(list))
	for _, t := range list {
		out[t.Number] = t
	}
	return out, nil
}
