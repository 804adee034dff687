package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/ticket"
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
	var raw []byte
	err = tx.QueryRow(ctx, `SELECT decision FROM routing_decisions WHERE key = $1`, req.Key).Scan(&raw)
	if err == nil {
		return false, json.Unmarshal(raw, d)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, err
	}
	f, tags, version, err := routingFacts(ctx, tx, req)
	if err != nil {
		return true, err
	}
	cfg, err := s.routeConfig(ctx, tx, version)
	if err != nil {
		return true, err
	}
	f.FieldTypes = cfg.fieldTypes
	out := rules.Evaluate(cfg.rules, f)
	*d, err = decide(ctx, tx, req, out)
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
		if _, err := tx.Exec(ctx, `UPDATE tickets SET tags = $2 WHERE number = $1`, req.Number, all); err != nil {
			return true, err
		}
	}
	raw, err = json.Marshal(d)
	if err != nil {
		return true, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO routing_decisions (key, ticket_number, decision) VALUES ($1, $2, $3)`, req.Key, req.Number, raw)
	return true, err
}

// routingFacts reads what rules decide on (text stays in the database),
// and in the same statement the routing configuration's version.
func routingFacts(ctx context.Context, tx pgx.Tx, req RouteRequest) (rules.Facts, []string, int64, error) {
	f := rules.Facts{Priority: string(req.Priority)}
	var categoryID *int64
	var tags []string
	var version int64
	err := tx.QueryRow(ctx, `SELECT t.subject, t.description, t.category_id, t.custom_fields, t.channel, t.tags,
			u.organization_id, coalesce(u.vip, false) OR coalesce(o.vip, false),
			(SELECT version FROM routing_config_version)
		FROM tickets t LEFT JOIN users u ON u.id = t.requester_id LEFT JOIN organizations o ON o.id = u.organization_id
		WHERE t.number = $1`, req.Number).
		Scan(&f.Subject, &f.Description, &categoryID, &f.Fields, &f.Channel, &tags, &f.OrganizationID, &f.VIP, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, nil, 0, fmt.Errorf("ticket %d: %w", req.Number, ErrNotFound)
	}
	if err != nil {
		return f, nil, 0, err
	}
	if categoryID != nil {
		if f.CategoryPath, err = categoryPath(ctx, tx, *categoryID); err != nil {
			return f, nil, 0, err
		}
	}
	return f, tags, version, nil
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

// strategyName is how reasons spell a strategy ("least-loaded").
func strategyName(s string) string { return strings.ReplaceAll(s, "_", "-") }

func ruleLabel(r rules.Ref) string { return fmt.Sprintf("rule %q (#%d)", r.Name, r.ID) }

// decide works out priority, team and assignee from the rules' outcome,
// taking the locks a choice of agent needs.
func decide(ctx context.Context, tx pgx.Tx, req RouteRequest, out rules.Outcome) (Decision, error) {
	d := Decision{Rules: out.Matched}
	if d.Rules == nil {
		d.Rules = []rules.Ref{}
	}
	var reasons []string
	if out.Priority != nil {
		p := ticket.Priority(*out.Priority)
		switch {
		case req.PriorityManual:
			reasons = append(reasons, fmt.Sprintf("%s would set priority %s; kept %s, set by a person", ruleLabel(*out.PriorityRule), p, req.Priority))
		case p != req.Priority:
			d.Priority = &p
			d.PriorityReason = fmt.Sprintf("priority %s by %s", p, ruleLabel(*out.PriorityRule))
			reasons = append(reasons, d.PriorityReason)
		}
	}
	a := out.Assignment
	var label, strategy string
	var teamID, agentID *int64
	var skills []string
	switch {
	case req.AssigneeManual && req.Trigger != RouteReroute:
		if a != nil {
			reasons = append(reasons, fmt.Sprintf("%s matched; kept the assignment a person made", ruleLabel(rules.Ref{ID: a.ID, Name: a.Name})))
		}
		a = nil
	case a != nil:
		label = ruleLabel(rules.Ref{ID: a.ID, Name: a.Name})
		teamID, agentID, strategy, skills = a.Actions.TeamID, a.Actions.AgentID, a.Actions.Strategy, a.Actions.Skills
	case req.Trigger == RouteReroute && req.TeamID != nil:
		// No rule routes it: spread the agent's tickets within their team.
		label, teamID, strategy = fmt.Sprintf("reroute within team %d", *req.TeamID), req.TeamID, rules.StrategyLeastLoaded
	}
	if label == "" {
		d.Reason = strings.Join(reasons, "; ")
		return d, nil
	}
	if teamID != nil && !sameRef(teamID, req.TeamID) {
		d.SetTeam, d.TeamID = true, teamID
	}
	var choice string
	var chosen *int64
	if agentID != nil {
		ok, why, err := agentFree(ctx, tx, *agentID, req)
		if err != nil {
			return d, err
		}
		if ok {
			chosen, choice = agentID, fmt.Sprintf("agent %d", *agentID)
		} else {
			choice = fmt.Sprintf("agent %d %s", *agentID, why)
		}
	}
	if chosen == nil && teamID != nil {
		if strategy == "" {
			strategy = rules.StrategyRoundRobin
		}
		d.Strategy = strategy
		var err error
		chosen, choice, err = chooseInTeam(ctx, tx, *teamID, strategy, skills, req)
		if err != nil {
			return d, err
		}
		choice = "strategy " + strategyName(strategy) + ": " + choice
	}
	assignee := req.AssigneeID
	switch {
	case chosen != nil:
		assignee = chosen
	case d.SetTeam || assignee != nil && slices.Contains(req.Exclude, *assignee):
		assignee = nil // nobody could take it: it waits in the team's queue
	}
	d.SetAssignee = !sameRef(assignee, req.AssigneeID)
	d.AssigneeID = assignee
	reasons = append([]string{label + ", " + choice}, reasons...)
	if agentID == nil && teamID == nil {
		reasons[0] = label
	}
	d.Reason = strings.Join(reasons, "; ")
	return d, nil
}

func sameRef(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// agentFree reports whether a rule's named agent can take the ticket now:
// an active staff member, not away, not excluded, under capacity.
func agentFree(ctx context.Context, tx pgx.Tx, id int64, req RouteRequest) (bool, string, error) {
	if slices.Contains(req.Exclude, id) {
		return false, "is being rerouted away from", nil
	}
	var capacity *int
	var away, staff bool
	err := tx.QueryRow(ctx, `SELECT capacity, coalesce(away_until > now(), false), role <> 'requester' AND NOT disabled
		FROM users WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&capacity, &away, &staff)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !staff {
		return false, "is not an active agent", nil
	}
	if err != nil {
		return false, "", err
	}
	if away {
		return false, "is away", nil
	}
	limit := req.DefaultCapacity
	if capacity != nil {
		limit = *capacity
	}
	if limit > 0 && (req.AssigneeID == nil || *req.AssigneeID != id) {
		var load int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE assignee_id = $1 AND number <> $2
			AND status IN ('open', 'in_progress', 'pending')`, id, req.Number).Scan(&load); err != nil {
			return false, "", err
		}
		if load >= limit {
			return false, fmt.Sprintf("is at capacity (%d of %d open)", load, limit), nil
		}
	}
	return true, "", nil
}

// chooseInTeam locks the team and its members, counts their load and
// picks one with rules.Choose. An agent already holding the ticket who is
// still eligible keeps it: re-routing after an edit must not shuffle work.
func chooseInTeam(ctx context.Context, tx pgx.Tx, teamID int64, strategy string, skills []string, req RouteRequest) (*int64, string, error) {
	var cursor int64
	err := tx.QueryRow(ctx, `SELECT rr_cursor FROM teams WHERE id = $1 FOR UPDATE`, teamID).Scan(&cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Sprintf("team %d does not exist; left unassigned", teamID), nil
	}
	if err != nil {
		return nil, "", err
	}
	rows, err := tx.Query(ctx, `SELECT u.id, coalesce(u.capacity, $2), coalesce(u.away_until > now(), false), u.skills
		FROM users u
		WHERE u.id IN (SELECT user_id FROM team_members WHERE team_id = $1
		               UNION SELECT lead_id FROM teams WHERE id = $1 AND lead_id IS NOT NULL)
		  AND u.role <> 'requester' AND NOT u.disabled
		ORDER BY u.id FOR NO KEY UPDATE`, teamID, req.DefaultCapacity)
	if err != nil {
		return nil, "", err
	}
	cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rules.Candidate, error) {
		var c rules.Candidate
		err := r.Scan(&c.ID, &c.Capacity, &c.Away, &c.Skills)
		return c, err
	})
	if err != nil {
		return nil, "", err
	}
	if len(cands) == 0 {
		return nil, fmt.Sprintf("team %d has no members; left unassigned in the team queue", teamID), nil
	}
	ids := make([]int64, len(cands))
	for i, c := range cands {
		ids[i] = c.ID
	}
	loads := map[int64]int{}
	lrows, err := tx.Query(ctx, `SELECT assignee_id, count(*) FROM tickets
		WHERE assignee_id = ANY($1) AND number <> $2 AND status IN ('open', 'in_progress', 'pending')
		GROUP BY assignee_id`, ids, req.Number)
	if err != nil {
		return nil, "", err
	}
	defer lrows.Close()
	for lrows.Next() {
		var id int64
		var n int
		if err := lrows.Scan(&id, &n); err != nil {
			return nil, "", err
		}
		loads[id] = n
	}
	if err := lrows.Err(); err != nil {
		return nil, "", err
	}
	for i := range cands {
		cands[i].Load = loads[cands[i].ID]
	}
	if cur := req.AssigneeID; cur != nil && !slices.Contains(req.Exclude, *cur) {
		for _, c := range cands {
			if c.ID == *cur && !c.Away && hasSkills(c.Skills, skills) {
				id := c.ID
				return &id, fmt.Sprintf("agent %d keeps it (already assigned, %d open)", id, c.Load), nil
			}
		}
	}
	ch := rules.Choose(strategy, cands, cursor, skills, req.Exclude)
	if ch.AgentID != nil && ch.Cursor != cursor {
		if _, err := tx.Exec(ctx, `UPDATE teams SET rr_cursor = $2 WHERE id = $1`, teamID, ch.Cursor); err != nil {
			return nil, "", err
		}
	}
	return ch.AgentID, ch.Reason, nil
}

func hasSkills(have, need []string) bool {
	for _, n := range need {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, n) }) {
			return false
		}
	}
	return true
}
