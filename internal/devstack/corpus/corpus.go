// Package corpus loads a synthetic set of tickets straight into
// PostgreSQL with COPY: the export test and `make bench-search` need
// thousands to a million tickets, far more than creating them through
// workflows would allow in their time. The tickets are rows and history
// like real ones (a created event, a public comment and an internal note
// on some), without workflows: they are for reading (search, export,
// reindex), not for changing.
package corpus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Options shape a corpus. The ids must exist.
type Options struct {
	N    int
	Seed uint64
	// Now is the newest creation time; tickets spread over the Days
	// before it.
	Now  time.Time
	Days int
	// Requesters, Agents, Teams and Categories are picked from at random
	// (agents and teams may be empty: unassigned, untriaged).
	Requesters, Agents, Teams, Categories []int64
	// Prefix starts every subject (a test's own word).
	Prefix string
	// Statuses are picked from (default: every status, open ones more
	// often). A test sharing its database with workflow-backed tickets
	// loads only resolved and closed ones: nothing then offers a corpus
	// ticket, which has no workflow, for work (the queue, claims).
	Statuses []ticket.Status
}

var (
	things  = []string{"printer", "laptop", "vpn", "email", "password", "monitor", "scanner", "phone", "badge", "wifi", "invoice", "license"}
	trouble = []string{"paper jam", "does not start", "is slow", "keeps disconnecting", "locked out", "shows an error", "makes a noise", "was stolen", "needs renewal", "cannot sync"}
	places  = []string{"floor 2", "the front desk", "building B", "home office", "the warehouse", "meeting room 4"}
	tags    = []string{"vip", "hardware", "network", "spam", "billing", "onboarding"}
)

// Ticket is what Load wrote of one ticket.
type Ticket struct {
	Number    int64
	Subject   string
	Status    ticket.Status
	Priority  ticket.Priority
	CreatedAt time.Time
}

// Load writes o.N tickets and returns them in number order. Numbers come
// from the ticket number sequence, so they never collide with real ones.
func Load(ctx context.Context, pool *pgxpool.Pool, o Options) ([]Ticket, error) {
	if o.N <= 0 || len(o.Requesters) == 0 {
		return nil, fmt.Errorf("corpus: need N > 0 and requesters")
	}
	if o.Days <= 0 {
		o.Days = 90
	}
	rows, err := pool.Query(ctx, `SELECT nextval('ticket_number_seq') FROM generate_series(1, $1)`, o.N)
	if err != nil {
		return nil, fmt.Errorf("corpus: numbers: %w", err)
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("corpus: numbers: %w", err)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	pick := func(xs []int64) any {
		if len(xs) == 0 || rng.IntN(5) == 0 {
			return nil
		}
		return xs[rng.IntN(len(xs))]
	}
	statuses := o.Statuses
	if len(statuses) == 0 {
		statuses = []ticket.Status{ticket.StatusOpen, ticket.StatusOpen, ticket.StatusInProgress, ticket.StatusPending, ticket.StatusResolved, ticket.StatusClosed}
	}
	prios := ticket.Priorities()
	out := make([]Ticket, o.N)
	tix := make([][]any, o.N)
	events := make([][]any, 0, o.N*2)
	comments := make([][]any, 0, o.N/2)
	span := time.Duration(o.Days) * 24 * time.Hour
	for i, n := range numbers {
		created := o.Now.Add(-time.Duration(rng.Int64N(int64(span)))).UTC().Truncate(time.Microsecond)
		updated := created.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
		if updated.After(o.Now) {
			updated = o.Now
		}
		st := statuses[rng.IntN(len(statuses))]
		pr := prios[rng.IntN(len(prios))]
		subject := fmt.Sprintf("%s%s %s at %s", o.Prefix, things[rng.IntN(len(things))], trouble[rng.IntN(len(trouble))], places[rng.IntN(len(places))])
		desc := fmt.Sprintf("Reported by phone. The %s %s since this morning; %s.", things[rng.IntN(len(things))], trouble[rng.IntN(len(trouble))], strings.Repeat("details ", 1+rng.IntN(8)))
		var due, resolved, closed any
		if st == ticket.StatusResolved || st == ticket.StatusClosed {
			resolved = updated
			if st == ticket.StatusClosed {
				closed = updated
			}
		} else {
			due = created.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
		}
		var tg []string
		if rng.IntN(3) == 0 {
			tg = append(tg, tags[rng.IntN(len(tags))])
		}
		if tg == nil {
			tg = []string{}
		}
		assignee := pick(o.Agents)
		seq := int64(1)
		events = append(events, []any{n, int64(1), ticket.EventCreated, "system", fmt.Sprintf(`{"v":1,"status":%q,"priority":%q}`, st, pr), created})
		if rng.IntN(2) == 0 {
			seq++
			events = append(events, []any{n, seq, ticket.EventComment, "system", `{"v":1,"internal":false}`, updated})
			comments = append(comments, []any{n, seq, "system", fmt.Sprintf("Could you check the %s again? It %s.", things[rng.IntN(len(things))], trouble[rng.IntN(len(trouble))]), false, updated})
		}
		if rng.IntN(4) == 0 {
			seq++
			events = append(events, []any{n, seq, ticket.EventComment, "system", `{"v":1,"internal":true}`, updated})
			comments = append(comments, []any{n, seq, "system", "Internal: vendor case opened, waiting for a part.", true, updated})
		}
		tix[i] = []any{n, subject, desc, string(st), string(pr), created, updated, seq,
			o.Requesters[rng.IntN(len(o.Requesters))], pick(o.Teams), assignee, pick(o.Categories), tg, []string{"web", "api", "email"}[rng.IntN(3)],
			due, due, resolved, closed}
		out[i] = Ticket{Number: n, Subject: subject, Status: st, Priority: pr, CreatedAt: created}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, []string{"number", "subject", "description", "status", "priority",
		"created_at", "updated_at", "last_seq", "requester_id", "team_id", "assignee_id", "category_id", "tags", "channel",
		"sla_due_at", "resolution_due_at", "resolved_at", "closed_at"}, pgx.CopyFromRows(tix)); err != nil {
		return nil, fmt.Errorf("corpus: copy tickets: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ticket_events"}, []string{"ticket_number", "seq", "kind", "actor", "data", "created_at"},
		pgx.CopyFromRows(events)); err != nil {
		return nil, fmt.Errorf("corpus: copy events: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"comments"}, []string{"ticket_number", "seq", "author", "body", "internal", "created_at"},
		pgx.CopyFromRows(comments)); err != nil {
		return nil, fmt.Errorf("corpus: copy comments: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return out, nil
}
