package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// SearchExtras is what a ticket's search document holds beyond its row:
// names and addresses people search by, the text of its comments, and
// whether it ever breached its SLA (search.DocumentFor builds the
// document from both).
type SearchExtras struct {
	RequesterEmail string
	TeamName       string
	// CategoryPath is the category as people see it ("Hardware / Printers").
	CategoryPath string
	// PublicText and InternalText are the bodies of the public comments and
	// of the internal notes, newest first, each cut to MaxSearchText bytes.
	PublicText   string
	InternalText string
	// Breached: the ticket has an sla_breached event.
	Breached bool
}

// MaxSearchText bounds each of a ticket's comment texts in its search
// document (256 KiB). Newest comments come first, so what a long ticket
// loses is its oldest discussion; the index stays a bounded size per
// ticket and highlighting stays fast.
const MaxSearchText = 256 << 10

// SearchTicket is a ticket with its search extras.
type SearchTicket struct {
	Ticket ticket.Ticket
	Extras SearchExtras
}

// The extras of ticket alias t as columns (searchExtrasList) and the joins
// they read (searchExtrasFrom). A category path is at most a few levels
// deep; the depth bound only guards against a cycle. left() counts
// characters, so the text is cut to MaxSearchText characters here and to
// bytes in Go (at most four times less to transfer than uncut).
var (
	searchExtrasList = `coalesce(sr.email, ''), coalesce(st.name, ''), coalesce(sc.path, ''),
	coalesce(sm.public, ''), coalesce(sm.internal, ''),
	EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_number = t.number AND e.kind = '` + ticket.EventSLABreached + `')`
	searchExtrasFrom = `
	LEFT JOIN users sr ON sr.id = t.requester_id
	LEFT JOIN teams st ON st.id = t.team_id
	LEFT JOIN LATERAL (
		WITH RECURSIVE up AS (
			SELECT c.name, c.parent_id, 0 AS depth FROM categories c WHERE c.id = t.category_id
			UNION ALL
			SELECT c.name, c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.parent_id WHERE up.depth < 32)
		SELECT string_agg(name, ' / ' ORDER BY depth DESC) AS path FROM up) sc ON true
	LEFT JOIN LATERAL (
		SELECT left(string_agg(body, E'\n\n' ORDER BY seq DESC) FILTER (WHERE NOT internal), ` + strconv.Itoa(MaxSearchText) + `) AS public,
		       left(string_agg(body, E'\n\n' ORDER BY seq DESC) FILTER (WHERE internal), ` + strconv.Itoa(MaxSearchText) + `) AS internal
		FROM comments WHERE ticket_number = t.number) sm ON true`
	searchTicketSelect = `SELECT ` + ticketSelectList + `, ` + searchExtrasList + ` FROM ` + ticketFrom + searchExtrasFrom
)

func (x *SearchExtras) dest() []any {
	return []any{&x.RequesterEmail, &x.TeamName, &x.CategoryPath, &x.PublicText, &x.InternalText, &x.Breached}
}

func (x *SearchExtras) cut() {
	x.PublicText = ticket.CutBytes(x.PublicText, MaxSearchText)
	x.InternalText = ticket.CutBytes(x.InternalText, MaxSearchText)
}

// SearchExtras reads the extras of these tickets in one query (a ticket
// that is not there is left out). The write paths call it with the ticket
// they just wrote: one more query per index write.
func (s *Store) SearchExtras(ctx context.Context, numbers ...int64) (map[int64]SearchExtras, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.number, `+searchExtrasList+` FROM tickets t`+searchExtrasFrom+
		` WHERE t.number = ANY($1)`, numbers)
	if err != nil {
		return nil, fmt.Errorf("store: search extras: %w", err)
	}
	out := make(map[int64]SearchExtras, len(numbers))
	var n int64
	var x SearchExtras
	_, err = pgx.ForEachRow(rows, append([]any{&n}, x.dest()...), func() error {
		x.cut()
		out[n] = x
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: search extras: %w", err)
	}
	return out, nil
}

// SearchDocuments reads these tickets with their extras, in number order,
// in one query; missing numbers are left out.
func (s *Store) SearchDocuments(ctx context.Context, numbers []int64) ([]SearchTicket, error) {
	out, err := s.searchTickets(ctx, searchTicketSelect+` WHERE t.number = ANY($1) ORDER BY t.number`, numbers)
	if err != nil {
		return nil, fmt.Errorf("store: search documents: %w", err)
	}
	return out, nil
}

// SearchPage reads up to limit tickets numbered above after, in number
// order, with their extras: a rebuild of the search index pages through
// every ticket with it.
func (s *Store) SearchPage(ctx context.Context, after int64, limit int) ([]SearchTicket, error) {
	out, err := s.searchTickets(ctx, searchTicketSelect+` WHERE t.number > $1 ORDER BY t.number LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: search page after %d: %w", after, err)
	}
	return out, nil
}

func (s *Store) searchTickets(ctx context.Context, q string, args ...any) ([]SearchTicket, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []SearchTicket
	var st SearchTicket
	_, err = pgx.ForEachRow(rows, append(ticketDest(&st.Ticket), st.Extras.dest()...), func() error {
		st.Extras.cut()
		out = append(out, st)
		// The next row scans into fresh pointers, slices and maps, not
		// into this one's.
		st = SearchTicket{}
		return nil
	})
	return out, err
}

// TicketSeqs calls fn with every ticket's number and last event sequence,
// in number order, streaming: a rebuild compares them with what it loaded.
func (s *Store) TicketSeqs(ctx context.Context, fn func(number, seq int64) error) error {
	rows, err := s.pool.Query(ctx, `SELECT number, last_seq FROM tickets ORDER BY number`)
	if err != nil {
		return fmt.Errorf("store: ticket sequences: %w", err)
	}
	var n, seq int64
	if _, err := pgx.ForEachRow(rows, []any{&n, &seq}, func() error { return fn(n, seq) }); err != nil {
		return fmt.Errorf("store: ticket sequences: %w", err)
	}
	return nil
}

// CountTickets counts every ticket (a rebuild's progress).
func (s *Store) CountTickets(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tickets`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count tickets: %w", err)
	}
	return n, nil
}

// TryLock takes the session advisory lock named key on a connection of
// its own, without waiting. ok is false when another session holds it;
// otherwise release gives it back. The lock ends with the connection, so
// a process that dies releases it.
func (s *Store) TryLock(ctx context.Context, key string) (release func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: lock %q: %w", key, err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("store: lock %q: %w", key, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			// The session, and so the lock, ends with the connection.
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}, true, nil
}
