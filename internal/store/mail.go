package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// NewMail is a message about to be processed (or sent).
type NewMail struct {
	DedupeKey   string
	ContentHash string
	Direction   string // "in" or "out"
	Mailbox     string
	MessageID   string
	From        string
	Subject     string
	Kind        string
	Size        int64
	// TicketNumber is known up front for outbound mail.
	TicketNumber *int64
	// SuppressAutoReply: the sender asked not to be answered automatically.
	SuppressAutoReply bool
	// RateWindow, when positive, has the claim count the sender's inbound
	// messages received within it before this one (Mail.SenderRecent),
	// serialized per sender so concurrent claims cannot miss each other.
	RateWindow time.Duration
	// RateLimit, when positive (with RateWindow), is the count of earlier
	// messages at which this one is over its sender's limit and bound for
	// quarantine: its raw row then keeps only the first OverLimitKeep bytes
	// (the headers and a bounded prefix of the body), so a flood of large
	// messages is not stored whole.
	RateLimit     int
	OverLimitKeep int
}

// Mail is a mail_messages row.
type Mail struct {
	ID           int64      `json:"id"`
	DedupeKey    string     `json:"dedupe_key"`
	ContentHash  string     `json:"-"`
	Direction    string     `json:"direction"`
	Mailbox      string     `json:"mailbox"`
	MessageID    string     `json:"message_id"`
	From         string     `json:"from"`
	Subject      string     `json:"subject"`
	Kind         string     `json:"kind"`
	Outcome      string     `json:"outcome"`
	Reason       string     `json:"reason"`
	TicketNumber *int64     `json:"ticket,omitempty"`
	CommentID    *int64     `json:"comment_id,omitempty"`
	Size         int64      `json:"size_bytes"`
	CreatedAt    time.Time  `json:"created_at"`
	DoneAt       *time.Time `json:"done_at,omitempty"`
	// SenderRecent is how many messages from the same sender were received
	// within the rate window before this one, fixed when it was claimed.
	SenderRecent int `json:"-"`
}

const mailColumns = `id, dedupe_key, content_hash, direction, mailbox, message_id, from_address, subject, kind,
	outcome, reason, ticket_number, comment_id, size_bytes, created_at, done_at, sender_recent`

func scanMail(row pgx.Row) (Mail, error) {
	var m Mail
	err := row.Scan(&m.ID, &m.DedupeKey, &m.ContentHash, &m.Direction, &m.Mailbox, &m.MessageID, &m.From, &m.Subject,
		&m.Kind, &m.Outcome, &m.Reason, &m.TicketNumber, &m.CommentID, &m.Size, &m.CreatedAt, &m.DoneAt, &m.SenderRecent)
	return m, err
}

// ClaimMail records a message and its raw bytes under its dedupe key, in one
// transaction. When the key is already recorded it returns that row and
// claimed false: the caller compares content hashes and carries on from the
// row's outcome (a row still "processing" was interrupted and is finished
// again, with the same deterministic IDs).
func (s *Store) ClaimMail(ctx context.Context, m NewMail, raw []byte) (Mail, bool, error) {
	var out Mail
	var err error
	claimed := true
	if m.RateWindow > 0 && m.Direction == "in" {
		out, claimed, err = s.claimCounted(ctx, m, raw)
	} else {
		// One statement, so one round trip and one commit: the row and its
		// bytes, or nothing when the key is taken.
		out, err = scanMail(s.pool.QueryRow(ctx, `WITH m AS (`+insertMail+`),
			r AS (INSERT INTO mail_raw (mail_id, raw) SELECT id, $13::bytea FROM m)
			SELECT `+mailColumns+` FROM m`, append(m.insertArgs(0), raw)...))
		if errors.Is(err, pgx.ErrNoRows) {
			// Taken (perhaps by a claim that committed while this statement
			// waited): a new statement sees it.
			claimed = false
			out, err = scanMail(s.pool.QueryRow(ctx, `SELECT `+mailColumns+` FROM mail_messages WHERE dedupe_key = $1`, m.DedupeKey))
		}
	}
	if err != nil {
		return Mail{}, false, fmt.Errorf("store: claim mail %s: %w", m.DedupeKey, err)
	}
	return out, claimed, nil
}

const insertMail = `INSERT INTO mail_messages
	(dedupe_key, content_hash, direction, mailbox, message_id, from_address, subject, kind, size_bytes, ticket_number, suppress_auto_reply, sender_recent)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
	ON CONFLICT (dedupe_key) DO NOTHING
	RETURNING ` + mailColumns

func (m NewMail) insertArgs(recent int) []any {
	return []any{m.DedupeKey, m.ContentHash, m.Direction, m.Mailbox, m.MessageID, m.From, ticket.CutBytes(m.Subject, 998), m.Kind,
		m.Size, m.TicketNumber, m.SuppressAutoReply, recent}
}

// claimCounted is ClaimMail counting the sender's recent mail first, under a
// per-sender lock held until commit, so the next claim from this sender
// counts this row. Read committed gives each statement a fresh snapshot:
// the count, taken after the lock, sees every earlier claim.
func (s *Store) claimCounted(ctx context.Context, m NewMail, raw []byte) (Mail, bool, error) {
	var out Mail
	claimed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mail-sender:' || $1, 0))`, m.From); err != nil {
			return err
		}
		recent := 0
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM mail_messages
			WHERE direction = 'in' AND from_address = $1 AND created_at >= now() - $2::interval`,
			m.From, m.RateWindow).Scan(&recent); err != nil {
			return err
		}
		var err error
		out, err = scanMail(tx.QueryRow(ctx, insertMail, m.insertArgs(recent)...))
		if errors.Is(err, pgx.ErrNoRows) {
			out, err = scanMail(tx.QueryRow(ctx, `SELECT `+mailColumns+` FROM mail_messages WHERE dedupe_key = $1`, m.DedupeKey))
			return err
		}
		if err != nil {
			return err
		}
		claimed = true
		if m.RateLimit > 0 && recent >= m.RateLimit && m.OverLimitKeep < len(raw) {
			raw = raw[:max(m.OverLimitKeep, 0)]
		}
		_, err = tx.Exec(ctx, `INSERT INTO mail_raw (mail_id, raw) VALUES ($1, $2)`, out.ID, raw)
		return err
	})
	return out, claimed, err
}

// FinishMail records what became of a message. It only moves a row out of
// "processing": a repeat after a crash writes nothing new.
func (s *Store) FinishMail(ctx context.Context, id int64, outcome, reason string, ticketNumber, commentID *int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE mail_messages
		SET outcome = $2, reason = $3, ticket_number = coalesce($4, ticket_number), comment_id = coalesce($5, comment_id), done_at = now()
		WHERE id = $1 AND outcome = 'processing'`, id, outcome, ticket.CutBytes(reason, 1000), ticketNumber, commentID)
	if err != nil {
		return fmt.Errorf("store: finish mail %d: %w", id, err)
	}
	return nil
}

// MailByID returns one mail_messages row.
func (s *Store) MailByID(ctx context.Context, id int64) (Mail, error) {
	m, err := scanMail(s.pool.QueryRow(ctx, `SELECT `+mailColumns+` FROM mail_messages WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Mail{}, ErrNotFound
	}
	return m, err
}

// MailRaw returns a message's original bytes.
func (s *Store) MailRaw(ctx context.Context, id int64) ([]byte, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT raw FROM mail_raw WHERE mail_id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return raw, err
}

// TicketMail lists the messages of a ticket, oldest first.
func (s *Store) TicketMail(ctx context.Context, number int64) ([]Mail, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+mailColumns+` FROM mail_messages WHERE ticket_number = $1 ORDER BY id`, number)
	if err != nil {
		return nil, fmt.Errorf("store: ticket mail: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mail, error) { return scanMail(r) })
}

// ThreadTicket finds the ticket a message belongs to from the Message-IDs
// it answers (In-Reply-To and References), matching mail the help desk sent
// or received. The newest matching message wins.
func (s *Store) ThreadTicket(ctx context.Context, messageIDs []string) (int64, bool, error) {
	ids := make([]string, 0, len(messageIDs))
	for _, id := range messageIDs {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0, false, nil
	}
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT ticket_number FROM mail_messages
		WHERE lower(message_id) = ANY($1) AND message_id <> '' AND ticket_number IS NOT NULL
		ORDER BY id DESC LIMIT 1`, ids).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: thread ticket: %w", err)
	}
	return n, true, nil
}

// IsParticipant reports whether user is ticket number's requester or wrote
// a comment on it.
func (s *Store) IsParticipant(ctx context.Context, number, userID int64) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tickets WHERE number = $1 AND requester_id = $2)
		OR EXISTS (SELECT 1 FROM comments WHERE ticket_number = $1 AND author_id = $2)`, number, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("store: participant: %w", err)
	}
	return ok, nil
}

// ReopenMail puts a quarantined message back to processing (an admin
// released it).
func (s *Store) ReopenMail(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE mail_messages SET outcome = 'processing', done_at = NULL WHERE id = $1 AND outcome = 'quarantined'`, id)
	if err != nil {
		return fmt.Errorf("store: reopen mail %d: %w", id, err)
	}
	return nil
}

// NewQuarantine is a message the intake would not act on.
type NewQuarantine struct {
	Mailbox     string
	Reason      string
	Detail      string
	DedupeKey   string
	ContentHash string
	MessageID   string
	From        string
	Subject     string
	// Truncated: raw is only the message's headers and a prefix of its body
	// (oversized or over the rate limit); Size is then the whole message's
	// size. Such an entry cannot be released.
	Truncated bool
	Size      int64
}

// Quarantined is a mail_quarantine row (without the raw bytes).
type Quarantined struct {
	ID             int64      `json:"id"`
	Mailbox        string     `json:"mailbox"`
	Reason         string     `json:"reason"`
	Detail         string     `json:"detail"`
	DedupeKey      string     `json:"dedupe_key"`
	ContentHash    string     `json:"-"`
	MessageID      string     `json:"message_id"`
	From           string     `json:"from"`
	Subject        string     `json:"subject"`
	Size           int64      `json:"size_bytes"`
	CreatedAt      time.Time  `json:"created_at"`
	ReleasedAt     *time.Time `json:"released_at"`
	ReleasedBy     *int64     `json:"released_by"`
	ReleasedMailID *int64     `json:"released_mail_id,omitempty"`
	// Truncated: only the headers and a prefix of the body were kept
	// (StoredBytes of Size); the entry cannot be released.
	Truncated   bool  `json:"truncated"`
	StoredBytes int64 `json:"stored_bytes"`
}

// octet_length of a bytea reads its stored length without fetching it.
const quarantineColumns = `id, mailbox, reason, detail, dedupe_key, content_hash, message_id, from_address, subject,
	size_bytes, created_at, released_at, released_by, released_mail_id, truncated, octet_length(raw)`

func scanQuarantined(row pgx.Row) (Quarantined, error) {
	var q Quarantined
	err := row.Scan(&q.ID, &q.Mailbox, &q.Reason, &q.Detail, &q.DedupeKey, &q.ContentHash, &q.MessageID, &q.From,
		&q.Subject, &q.Size, &q.CreatedAt, &q.ReleasedAt, &q.ReleasedBy, &q.ReleasedMailID, &q.Truncated, &q.StoredBytes)
	return q, err
}

// Quarantine keeps a message with its reason. The same bytes quarantined
// for the same reason again (an intake restart) are the same entry.
func (s *Store) Quarantine(ctx context.Context, q NewQuarantine, raw []byte) (Quarantined, error) {
	size := int64(len(raw))
	if q.Truncated {
		size = max(q.Size, size)
	}
	row := s.pool.QueryRow(ctx, `WITH ins AS (
		INSERT INTO mail_quarantine (mailbox, reason, detail, dedupe_key, content_hash, message_id, from_address, subject, size_bytes, raw, truncated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (content_hash, reason) DO NOTHING
		RETURNING `+quarantineColumns+`)
		SELECT * FROM ins
		UNION ALL
		SELECT `+quarantineColumns+` FROM mail_quarantine WHERE content_hash = $5 AND reason = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
		q.Mailbox, q.Reason, ticket.CutBytes(q.Detail, 2000), q.DedupeKey, q.ContentHash, ticket.CutBytes(q.MessageID, 998), ticket.CutBytes(q.From, 320),
		ticket.CutBytes(q.Subject, 998), size, raw, q.Truncated)
	out, err := scanQuarantined(row)
	if err != nil {
		return Quarantined{}, fmt.Errorf("store: quarantine: %w", err)
	}
	return out, nil
}

// ListQuarantine lists entries newest first, below id before (0: from the
// newest); released ones only when includeReleased.
func (s *Store) ListQuarantine(ctx context.Context, limit int, before int64, includeReleased bool) ([]Quarantined, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+quarantineColumns+` FROM mail_quarantine
		WHERE ($2 = 0 OR id < $2) AND ($3 OR released_at IS NULL)
		ORDER BY id DESC LIMIT $1`, limit, before, includeReleased)
	if err != nil {
		return nil, fmt.Errorf("store: list quarantine: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Quarantined, error) { return scanQuarantined(r) })
}

// QuarantineEntry returns one entry and its raw bytes.
func (s *Store) QuarantineEntry(ctx context.Context, id int64) (Quarantined, []byte, error) {
	var raw []byte
	q, err := scanQuarantined(s.pool.QueryRow(ctx, `SELECT `+quarantineColumns+` FROM mail_quarantine WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Quarantined{}, nil, ErrNotFound
	}
	if err != nil {
		return Quarantined{}, nil, err
	}
	err = s.pool.QueryRow(ctx, `SELECT raw FROM mail_quarantine WHERE id = $1`, id).Scan(&raw)
	return q, raw, err
}

// MarkReleased records who released an entry and the message it became.
func (s *Store) MarkReleased(ctx context.Context, id, by int64, mailID *int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE mail_quarantine SET released_at = coalesce(released_at, now()),
		released_by = coalesce(released_by, $2), released_mail_id = coalesce(released_mail_id, $3) WHERE id = $1`, id, by, mailID)
	if err != nil {
		return fmt.Errorf("store: release quarantine %d: %w", id, err)
	}
	return nil
}

// Checkpoint returns a mailbox's checkpoint; ok false when it has none.
func (s *Store) Checkpoint(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, ok bool, err error) {
	var v, u int64
	err = s.pool.QueryRow(ctx, `SELECT uid_validity, last_uid FROM mailbox_checkpoints WHERE mailbox = $1`, mailbox).Scan(&v, &u)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("store: checkpoint: %w", err)
	}
	return uint32(v), uint32(u), true, nil
}

// SaveCheckpoint moves a mailbox's checkpoint forward (never back under the
// same UIDVALIDITY; a new UIDVALIDITY replaces it).
func (s *Store) SaveCheckpoint(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO mailbox_checkpoints (mailbox, uid_validity, last_uid) VALUES ($1, $2, $3)
		ON CONFLICT (mailbox) DO UPDATE SET
			last_uid = CASE WHEN mailbox_checkpoints.uid_validity = excluded.uid_validity
				THEN greatest(mailbox_checkpoints.last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			uid_validity = excluded.uid_validity, updated_at = now()`, mailbox, int64(uidValidity), int64(lastUID))
	if err != nil {
		return fmt.Errorf("store: save checkpoint: %w", err)
	}
	return nil
}

// MailByDedupeKey returns the message recorded under key, or ErrNotFound.
func (s *Store) MailByDedupeKey(ctx context.Context, key string) (Mail, error) {
	m, err := scanMail(s.pool.QueryRow(ctx, `SELECT `+mailColumns+` FROM mail_messages WHERE dedupe_key = $1`, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return Mail{}, ErrNotFound
	}
	return m, err
}
