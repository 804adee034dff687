package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Query filters Find. Empty fields do not filter.
type Query struct {
	// Actor and Result match exactly. Action matches exactly, or as a
	// prefix when it ends with ".*" ("ticket.*" finds "ticket.read").
	Actor, Action, Result string
	// Since and Until bound At: Since <= at < Until.
	Since, Until *time.Time
	// Limit is the page size, 1..500; 0 means 100.
	Limit int
	// Cursor is the nextCursor of the previous page; empty for the first.
	Cursor string
}

// Find page limits.
const (
	DefaultFindLimit = 100
	MaxFindLimit     = 500
)

// cursorPrefix versions the cursor format; cursors are opaque to callers.
const cursorPrefix = "a1:"

// Find returns the entries matching q, newest first, and the cursor of the
// next page ("" on the last page).
func (l *Log) Find(ctx context.Context, q Query) ([]Entry, string, error) {
	limit := q.Limit
	if limit == 0 {
		limit = DefaultFindLimit
	}
	if limit < 1 || limit > MaxFindLimit {
		return nil, "", fmt.Errorf("%w: limit %d is not between 1 and %d", ErrInvalid, q.Limit, MaxFindLimit)
	}
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if q.Cursor != "" {
		before, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		arg("id < $?", before)
	}
	if q.Actor != "" {
		arg("actor = $?", q.Actor)
	}
	if prefix, ok := strings.CutSuffix(q.Action, "*"); ok && strings.HasSuffix(prefix, ".") {
		arg(`action LIKE $? ESCAPE '\'`, likeEscaper.Replace(prefix)+"%")
	} else if q.Action != "" {
		arg("action = $?", q.Action)
	}
	if q.Result != "" {
		arg("result = $?", q.Result)
	}
	if q.Since != nil {
		arg("at >= $?", *q.Since)
	}
	if q.Until != nil {
		arg("at < $?", *q.Until)
	}
	sql := `SELECT ` + entryColumns + ` FROM audit_log`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, ` AND `)
	}
	args = append(args, limit+1) // one more tells whether a next page exists
	sql += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))

	rows, err := l.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("audit: find: %w", err)
	}
	defer rows.Close()
	entries := make([]Entry, 0, min(limit+1, 64))
	var detail []byte
	for rows.Next() {
		e, err := scanEntry(rows, &detail)
		if err != nil {
			return nil, "", fmt.Errorf("audit: find: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("audit: find: %w", err)
	}
	next := ""
	if len(entries) > limit {
		entries = entries[:limit]
		next = encodeCursor(entries[limit-1].ID)
	}
	return entries, next, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	n, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return id, nil
}
