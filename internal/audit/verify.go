package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// VerifyResult reports a walk of the chain.
type VerifyResult struct {
	// Rows is how many rows were checked, the bad one included.
	Rows int64
	OK   bool
	// FirstBadID is the first row whose hashes do not follow from the rows
	// before it: the row that was edited, or the one after a removed row.
	// When rows were removed from the end it is the id the chain head still
	// names. 0 when OK.
	FirstBadID int64
	// FirstBadAt is that row's time as stored (which may itself be the
	// edited field); zero when OK or when the row no longer exists.
	FirstBadAt time.Time
	// Reason says what did not match; empty when OK.
	Reason string
}

// String is the one-line report `helpdesk audit verify` prints.
func (r VerifyResult) String() string {
	if r.OK {
		return fmt.Sprintf("audit log intact: %d rows verified", r.Rows)
	}
	at := "row missing"
	if !r.FirstBadAt.IsZero() {
		at = r.FirstBadAt.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("audit log broken: first bad row %d (%s) after %d rows: %s", r.FirstBadID, at, r.Rows, r.Reason)
}

// zeroHash is the first row's prev_hash.
var zeroHash = make([]byte, sha256.Size)

// Verify walks the whole chain in id order, streaming, and recomputes each
// row's hash; it stops at the first row that does not match. It reads one
// snapshot, so concurrent appends neither disturb nor extend the walk.
func (l *Log) Verify(ctx context.Context) (VerifyResult, error) {
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only; nothing to keep
	var headID int64
	var headHash []byte
	if err := tx.QueryRow(ctx, `SELECT last_id, last_hash FROM audit_chain_head`).Scan(&headID, &headHash); err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: read chain head: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM audit_log ORDER BY id`)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: %w", err)
	}
	res, err := verifyRows(rows)
	rows.Close()
	if err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: %w", err)
	}
	if err := rows.Err(); err != nil {
		return VerifyResult{}, fmt.Errorf("audit: verify: %w", err)
	}
	if !res.OK {
		return res.VerifyResult, nil
	}
	if headID != res.lastID || !bytes.Equal(headHash, res.lastHash) {
		res.OK = false
		res.FirstBadID = max(headID, res.lastID)
		if res.FirstBadID == res.lastID {
			res.FirstBadAt = res.lastAt
		}
		res.Reason = fmt.Sprintf("chain head names row %d with hash %x, but the last row is %d with hash %x (rows removed from the end?)",
			headID, headHash, res.lastID, res.lastHash)
	}
	return res.VerifyResult, nil
}

type walk struct {
	VerifyResult
	lastID   int64
	lastAt   time.Time
	lastHash []byte
}

func verifyRows(rows pgx.Rows) (walk, error) {
	w := walk{VerifyResult: VerifyResult{OK: true}, lastHash: zeroHash}
	var detail []byte
	h := sha256.New()
	sum := make([]byte, 0, sha256.Size)
	for rows.Next() {
		e, err := scanRaw(rows, &detail)
		if err != nil {
			return walk{}, err
		}
		w.Rows++
		bad := func(format string, args ...any) (walk, error) {
			w.OK, w.FirstBadID, w.FirstBadAt, w.Reason = false, e.ID, e.At, fmt.Sprintf(format, args...)
			return w, nil
		}
		if e.Detail, err = decodeDetail(detail); err != nil {
			return bad("row %d: %v", e.ID, err)
		}
		if !bytes.Equal(e.PrevHash, w.lastHash) {
			return bad("row %d: prev_hash %s is not the previous row's (%d) hash %s", e.ID, hex.EncodeToString(e.PrevHash), w.lastID, hex.EncodeToString(w.lastHash))
		}
		canon, err := Canonical(e)
		if err != nil {
			return bad("row %d: %v", e.ID, err)
		}
		h.Reset()
		h.Write(e.PrevHash)
		h.Write(canon)
		sum = h.Sum(sum[:0])
		if !bytes.Equal(sum, e.Hash) {
			return bad("row %d: stored hash %s, content hashes to %s", e.ID, hex.EncodeToString(e.Hash), hex.EncodeToString(sum))
		}
		w.lastID, w.lastAt, w.lastHash = e.ID, e.At, e.Hash
	}
	return w, nil
}
