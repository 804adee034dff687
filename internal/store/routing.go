package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/rules"
)

// RouteRequest and Decision are the planner's types (internal/lifecycle).
type (
	RouteRequest = lifecycle.RouteRequest
	Decision     = lifecycle.Decision
)

// The triggers of a routing decision.
const (
	RouteCreated = lifecycle.RouteCreated
	RouteChanged = lifecycle.RouteChanged
	RouteReroute = lifecycle.RouteReroute
)

// Route makes one routing decision in a single transaction: evaluate the
// rules on the ticket's facts, lock the chosen team (every decision for a
// team queues behind this lock) and its candidate agents, count their open
// load under the locks, choose, and write the assignee, the team's
// round-robin cursor and the decision itself before committing. Nothing
// is counted in a process, so any number of API and worker processes
// decide without racing.
func (s *Store) Route(ctx context.Context, req RouteRequest) (Decision, error) {
	var d Decision
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		fresh, err := s.routeTx(ctx, tx, req, &d)
		if err != nil || !fresh || !d.SetAssignee && !d.SetTeam {
			return err
		}
		// The decision is recorded by the workflow in a later transaction;
		// the row takes the assignee now so the next decision counts it.
		team := req.TeamID
		if d.SetTeam {
			team = d.TeamID
		}
		_, err = tx.Exec(ctx, `UPDATE tickets SET assignee_id = $2, team_id = $3 WHERE number = $1`, req.Number, d.AssigneeID, team)
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("store: route ticket %d: %w", req.Number, err)
	}
	return d, nil
}

// routeTx makes (fresh) or finds (a retry: the key was decided before)
// the decision in tx, leaving the team and candidate agents locked until
// tx ends. It writes the decision, the team's cursor and new tags, not
// the assignee: the caller writes that, in the same transaction.
func (s *Store) routeTx(ctx context.Context, tx pgx.Tx, req RouteRequest, d *Decision) (fresh bool, err error) {
	f, tags, version, decided, err := routingFacts(ctx, tx, req)
	if err != nil {
		return false, err
	}
	if decided != nil {
		return false, json.Unmarshal(decided, d)
	}
	cfg, err := s.routeConfig(ctx, tx, version)
	if err != nil {
		return true, err
	}
	f.FieldTypes = cfg.fieldTypes
	out := rules.Evaluate(cfg.rules, f)
	b := &pgx.Batch{}
	*d, err = decide(ctx, tx, req, out, b)
	if err != nil {
		return true, err
	}
	for _, t := range out.Tags {
		if !slices.Contains(tags, t) {
			d.Tags = append(d.Tags, t)
		}
	}
	if len(d.Tags) > 0 {
		all := append(slices.Clone(tags), d.Tags...)
		slices.Sort(all)
		b.Queue(`UPDATE tickets SET tags = $2 WHERE number = $1`, req.Number, all)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return true, err
	}
	b.Queue(`INSERT INTO routing_decisions (key, ticket_number, decision) VALUES ($1, $2, $3)`, req.Key, req.Number, raw)
	return true, tx.SendBatch(ctx, b).Close()
}

// routingFacts reads what rules decide on (text stays in the database),
// and in the same statement the routing configuration's version and the
// decision already made under req.Key, if any (a retry).
func routingFacts(ctx context.Context, tx pgx.Tx, req RouteRequest) (rules.Facts, []string, int64, []byte, error) {
	f := rules.Facts{Priority: string(req.Priority)}
	var categoryID *int64
	var tags []string
	var version int64
	var decided []byte
	err := tx.QueryRow(ctx, `SELECT t.subject, t.description, t.category_id, t.custom_fields, t.channel, t.tags,
			u.organization_id, coalesce(u.vip, false) OR coalesce(o.vip, false),
			(SELECT version FROM routing_config_version),
			(SELECT decision FROM routing_decisions WHERE key = $2)
		FROM tickets t LEFT JOIN users u ON u.id = t.requester_id LEFT JOIN organizations o ON o.id = u.organization_id
		WHERE t.number = $1`, req.Number, req.Key).
		Scan(&f.Subject, &f.Description, &categoryID, &f.Fields, &f.Channel, &tags, &f.OrganizationID, &f.VIP, &version, &decided)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, nil, 0, nil, fmt.Errorf("ticket %d: %w", req.Number, ErrNotFound)
	}
	if err != nil || decided != nil {
		return f, nil, 0, decided, err
	}
	if categoryID != nil {
		if f.CategoryPath, err = categoryPath(ctx, tx, *categoryID); err != nil {
			return f, nil, 0, nil, err
		}
	}
	return f, tags, version, nil, nil
}

// routeCache is the routing configuration last read, by version.
type routeCache struct {
	mu  sync.Mutex
	cfg *routeConfig
}

// routeConfig is what routing decides with besides the ticket: the
// enabled rules in order and every custom field's type. Shared read-only
// by concurrent decisions.
type routeConfig struct {
	version    int64
	rules      []rules.Rule
	fieldTypes map[string]string
}

// routeConfig returns the configuration as of version (migration 016's
// counter, which every statement on rules or custom_fields moves), from
// memory unless the version moved. The version is read before the rules,
// so what is kept under a version is never older than it.
func (s *Store) routeConfig(ctx context.Context, tx pgx.Tx, version int64) (*routeConfig, error) {
	s.route.mu.Lock()
	c := s.route.cfg
	s.route.mu.Unlock()
	if c != nil && c.version == version {
		return c, nil
	}
	rs, err := queryRules(ctx, tx, `SELECT `+ruleColumns+` FROM rules WHERE enabled ORDER BY position, id`)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT key, type FROM custom_fields`)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for rows.Next() {
		var k, t string
		if err := rows.Scan(&k, &t); err != nil {
			rows.Close()
			return nil, err
		}
		types[k] = t
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	c = &routeConfig{version: version, rules: rs, fieldTypes: types}
	s.route.mu.Lock()
	if s.route.cfg == nil || s.route.cfg.version <= version {
		s.route.cfg = c
	}
	s.route.mu.Unlock()
	return c, nil
}

// decide runs the routing policy (lifecycle.Routing, pure) on the rules'
// outcome, reading the facts it asks for under locks: the rule's named
// agent, then (when no agent was chosen) the rule's team and its members
// with their open tickets. The locks last until the transaction ends, so
// the assignee written before then is counted by the next decision. The
// team's new round-robin cursor is queued in writes.
func decide(ctx context.Context, tx pgx.Tx, req RouteRequest, out rules.Outcome, writes *pgx.Batch) (Decision, error) {
	r := lifecycle.NewRouting(req, out)
	if id := r.Agent(); id != nil {
		f, err := agentFacts(ctx, tx, *id, req)
		if err != nil {
			return Decision{}, err
		}
		r.OfferAgent(f)
	}
	if id := r.Team(); id != nil {
		f, err := teamFacts(ctx, tx, *id, req)
		if err != nil {
			return Decision{}, err
		}
		if cursor, moved := r.OfferTeam(f); moved {
			writes.Queue(`UPDATE teams SET rr_cursor = $2 WHERE id = $1`, *id, cursor)
		}
	}
	return r.Decision(), nil
}

// agentFacts reads a rule's named agent, locking the row.
func agentFacts(ctx context.Context, tx pgx.Tx, id int64, req RouteRequest) (lifecycle.AgentFacts, error) {
	var f lifecycle.AgentFacts
	err := tx.QueryRow(ctx, `SELECT capacity, coalesce(away_until > now(), false), role <> 'requester' AND NOT disabled,
			(SELECT count(*) FROM tickets WHERE assignee_id = $1 AND number <> $2 AND status IN ('open', 'in_progress', 'pending'))
		FROM users WHERE id = $1 FOR NO KEY UPDATE`, id, req.Number).Scan(&f.Capacity, &f.Away, &f.Active, &f.Load)
	if errors.Is(err, pgx.ErrNoRows) {
		return lifecycle.AgentFacts{}, nil
	}
	return f, err
}

// teamFacts locks the team and its active members and counts their open
// tickets (two statements).
func teamFacts(ctx context.Context, tx pgx.Tx, teamID int64, req RouteRequest) (lifecycle.TeamFacts, error) {
	var f lifecycle.TeamFacts
	err := tx.QueryRow(ctx, `SELECT rr_cursor FROM teams WHERE id = $1 FOR UPDATE`, teamID).Scan(&f.Cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	f.Found = true
	// Members in id order, locked, each with their open tickets other
	// than this one; the team lock above serializes every decision for
	// the team, so the counts stay true until this transaction ends.
	rows, err := tx.Query(ctx, `SELECT u.id, coalesce(u.capacity, $2), coalesce(u.away_until > now(), false), u.skills,
			(SELECT count(*) FROM tickets t WHERE t.assignee_id = u.id AND t.number <> $3
			   AND t.status IN ('open', 'in_progress', 'pending'))
		FROM users u
		WHERE u.id IN (SELECT user_id FROM team_members WHERE team_id = $1
		               UNION SELECT lead_id FROM teams WHERE id = $1 AND lead_id IS NOT NULL)
		  AND u.role <> 'requester' AND NOT u.disabled
		ORDER BY u.id FOR NO KEY UPDATE OF u`, teamID, req.DefaultCapacity, req.Number)
	if err != nil {
		return f, err
	}
	f.Members, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (rules.Candidate, error) {
		var c rules.Candidate
		err := r.Scan(&c.ID, &c.Capacity, &c.Away, &c.Skills, &c.Load)
		return c, err
	})
	return f, err
}
