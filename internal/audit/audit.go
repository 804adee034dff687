// Package audit is helpdesk's append-only, hash-chained audit log of every
// access attempt and change: who did what to which object, with what
// result, from where.
//
// Each row's hash is SHA-256 over the previous row's hash and the row's
// canonical encoding (see Canonical), so editing or removing a row breaks
// the chain from there on, and Verify finds where. The application's
// database role may only read and append (internal/store/migrations/
// 003_audit.sql revokes UPDATE, DELETE and TRUNCATE); Export writes periods
// of the log to files for keeping outside the database.
package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Results of an audited attempt.
const (
	ResultAllowed = "allowed"
	ResultDenied  = "denied"
	ResultError   = "error"
)

// Errors callers branch on. Returned errors wrap them, so use errors.Is.
var (
	// ErrInvalid: the entry or query failed validation.
	ErrInvalid = errors.New("audit: invalid input")
	// ErrBadCursor: Find got a cursor it did not make.
	ErrBadCursor = errors.New("audit: bad cursor")
	// ErrExportConflict: the period's start was already exported with
	// another end (the schedule's interval changed).
	ErrExportConflict = errors.New("audit: export period conflicts with an earlier export")
)

// Entry is one row of the audit log.
type Entry struct {
	ID int64
	At time.Time
	// ActorID is the user's id; nil for anonymous attempts.
	ActorID *int64
	// Actor is an email, "token:<prefix>", "anonymous" or "system".
	Actor string
	// Action is dotted, e.g. "ticket.read", "auth.login".
	Action string
	// Object is what was acted on, e.g. "ticket:42"; may be empty.
	Object string
	// Result is ResultAllowed, ResultDenied or ResultError.
	Result    string
	IP        string
	UserAgent string
	RequestID string
	// Detail is any JSON object. Read back, its numbers are json.Number so
	// they keep their exact value.
	Detail   map[string]any
	PrevHash []byte
	Hash     []byte
}

// entryJSON is Entry's JSON shape: snake_case, hashes in hex.
type entryJSON struct {
	ID        int64          `json:"id"`
	At        time.Time      `json:"at"`
	ActorID   *int64         `json:"actor_id"`
	Actor     string         `json:"actor"`
	Action    string         `json:"action"`
	Object    string         `json:"object"`
	Result    string         `json:"result"`
	IP        string         `json:"ip"`
	UserAgent string         `json:"user_agent"`
	RequestID string         `json:"request_id"`
	Detail    map[string]any `json:"detail"`
	PrevHash  string         `json:"prev_hash"`
	Hash      string         `json:"hash"`
}

// MarshalJSON writes the entry in snake_case with hex hashes.
func (e Entry) MarshalJSON() ([]byte, error) {
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	return json.Marshal(entryJSON{
		ID: e.ID, At: e.At, ActorID: e.ActorID, Actor: e.Actor, Action: e.Action, Object: e.Object,
		Result: e.Result, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Detail: detail,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	})
}

// UnmarshalJSON reads what MarshalJSON wrote, keeping detail numbers exact.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j struct {
		entryJSON
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	prev, err := hex.DecodeString(j.PrevHash)
	if err != nil {
		return fmt.Errorf("audit: prev_hash: %w", err)
	}
	hash, err := hex.DecodeString(j.Hash)
	if err != nil {
		return fmt.Errorf("audit: hash: %w", err)
	}
	detail := map[string]any{}
	if len(j.Detail) > 0 && string(j.Detail) != "null" {
		if detail, err = decodeDetail(j.Detail); err != nil {
			return err
		}
	}
	*e = Entry{
		ID: j.ID, At: j.At, ActorID: j.ActorID, Actor: j.Actor, Action: j.Action, Object: j.Object,
		Result: j.Result, IP: j.IP, UserAgent: j.UserAgent, RequestID: j.RequestID, Detail: detail,
		PrevHash: prev, Hash: hash,
	}
	return nil
}

// Log is the audit log in PostgreSQL. It is safe for concurrent use.
type Log struct {
	pool *pgxpool.Pool
	now  func() time.Time // tests move the clock
}

// New returns the log stored in pool's database.
func New(pool *pgxpool.Pool) *Log {
	return &Log{pool: pool, now: time.Now}
}

// appendSQL appends a row in one statement (one round trip, its own
// transaction): it locks the chain head, which serializes appends, hashes
// the previous hash with the canonical bytes the caller computed, inserts
// the row and moves the head to it.
const appendSQL = `
WITH head AS (
    SELECT last_hash FROM audit_chain_head FOR UPDATE
), ins AS (
    INSERT INTO audit_log (at, actor_id, actor, action, object, result, ip, user_agent, request_id, detail, prev_hash, hash)
    SELECT $1::timestamptz, $2::bigint, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::jsonb,
           head.last_hash, sha256(head.last_hash || $11::bytea)
    FROM head
    RETURNING id, prev_hash, hash
), moved AS (
    UPDATE audit_chain_head SET last_id = ins.id, last_hash = ins.hash FROM ins
)
SELECT id, prev_hash, hash FROM ins`

// Append records e and returns it as stored: with its ID, At (always now,
// to the microsecond; the caller's At is ignored so history cannot be
// backdated), hashes, and strings and Detail normalized (and capped to
// MaxStringBytes) as Canonical describes.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	if e.Actor == "" || e.Action == "" {
		return Entry{}, fmt.Errorf("%w: actor and action are required", ErrInvalid)
	}
	if !validResult(e.Result) {
		return Entry{}, fmt.Errorf("%w: result %q is not allowed, denied or error", ErrInvalid, e.Result)
	}
	e.ID, e.PrevHash, e.Hash = 0, nil, nil
	// The time is taken once a connection is in hand, so a row's at is at
	// most one statement older than its commit: an export that waits a
	// little past its period's end sees every row of the period.
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	defer conn.Release()
	e.At = l.now().UTC().Truncate(time.Microsecond)
	detailJSON, err := normalize(&e)
	if err != nil {
		return Entry{}, err
	}
	canon, err := Canonical(e)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	err = conn.QueryRow(ctx, appendSQL,
		e.At, e.ActorID, e.Actor, e.Action, e.Object, e.Result, e.IP, e.UserAgent, e.RequestID, string(detailJSON), canon,
	).Scan(&e.ID, &e.PrevHash, &e.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Entry{}, errors.New("audit: append: the audit_chain_head row is missing")
	}
	if err != nil {
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	return e, nil
}

func validResult(r string) bool {
	return r == ResultAllowed || r == ResultDenied || r == ResultError
}

// entryColumns are what scanEntry reads, in order.
const entryColumns = `id, at, actor_id, actor, action, object, result, ip, user_agent, request_id, detail::text, prev_hash, hash`

// rowScanner is pgx.Row or pgx.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanEntry reads entryColumns. detail is scratch space reused across rows.
func scanEntry(r rowScanner, detail *[]byte) (Entry, error) {
	e, err := scanRaw(r, detail)
	if err != nil {
		return Entry{}, err
	}
	if e.Detail, err = decodeDetail(*detail); err != nil {
		return Entry{}, fmt.Errorf("row %d: %w", e.ID, err)
	}
	return e, nil
}

// scanRaw reads entryColumns but leaves the detail text in *detail.
func scanRaw(r rowScanner, detail *[]byte) (Entry, error) {
	var e Entry
	if err := r.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &e.Action, &e.Object, &e.Result,
		&e.IP, &e.UserAgent, &e.RequestID, detail, &e.PrevHash, &e.Hash); err != nil {
		return Entry{}, err
	}
	e.At = e.At.UTC()
	return e, nil
}
