package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/rules"
)

const ruleColumns = `id, name, kind, position, enabled, conditions, actions`

func scanRule(r pgx.Row) (rules.Rule, error) {
	var out rules.Rule
	var conds, acts []byte
	if err := r.Scan(&out.ID, &out.Name, &out.Kind, &out.Position, &out.Enabled, &conds, &acts); err != nil {
		return out, err
	}
	if err := json.Unmarshal(conds, &out.Conditions); err != nil {
		return out, fmt.Errorf("conditions of rule %d: %w", out.ID, err)
	}
	if err := json.Unmarshal(acts, &out.Actions); err != nil {
		return out, fmt.Errorf("actions of rule %d: %w", out.ID, err)
	}
	if out.Conditions == nil {
		out.Conditions = []rules.Condition{}
	}
	return out, nil
}

// Rules returns every rule in evaluation order (position, then id).
func (s *Store) Rules(ctx context.Context) ([]rules.Rule, error) {
	return queryRules(ctx, s.pool, `SELECT `+ruleColumns+` FROM rules ORDER BY position, id`)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func queryRules(ctx context.Context, q querier, sql string, args ...any) ([]rules.Rule, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: rules: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rules.Rule, error) { return scanRule(r) })
	if err != nil {
		return nil, fmt.Errorf("store: rules: %w", err)
	}
	return out, nil
}

// Rule returns one rule; ErrNotFound when there is none.
func (s *Store) Rule(ctx context.Context, id int64) (rules.Rule, error) {
	r, err := scanRule(s.pool.QueryRow(ctx, `SELECT `+ruleColumns+` FROM rules WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("store: rule %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: rule %d: %w", id, err)
	}
	return r, nil
}

// SaveRule inserts r (ID 0) or replaces the stored rule with its id.
func (s *Store) SaveRule(ctx context.Context, r rules.Rule) (rules.Rule, error) {
	conds, err := json.Marshal(r.Conditions)
	if err != nil {
		return r, fmt.Errorf("store: save rule: %w", err)
	}
	acts, err := json.Marshal(r.Actions)
	if err != nil {
		return r, fmt.Errorf("store: save rule: %w", err)
	}
	if r.ID == 0 {
		err = s.pool.QueryRow(ctx, `INSERT INTO rules (name, kind, position, enabled, conditions, actions)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, r.Name, r.Kind, r.Position, r.Enabled, conds, acts).Scan(&r.ID)
	} else {
		tag, uerr := s.pool.Exec(ctx, `UPDATE rules SET name = $2, kind = $3, position = $4, enabled = $5, conditions = $6,
			actions = $7, updated_at = now() WHERE id = $1`, r.ID, r.Name, r.Kind, r.Position, r.Enabled, conds, acts)
		err = uerr
		if err == nil && tag.RowsAffected() == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return r, fmt.Errorf("store: save rule %q: %w", r.Name, err)
	}
	return r, nil
}

// DeleteRule removes a rule; ErrNotFound when there is none. Decisions it
// made stay in ticket history, which names it.
func (s *Store) DeleteRule(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM rules WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete rule %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete rule %d: %w", id, ErrNotFound)
	}
	return nil
}

// ErrConflict is returned when a write would break a uniqueness rule.
var ErrConflict = errors.New("store: conflict")

// RuleSchema reads what rules may refer to: custom fields (type and
// option ids), categories, teams, staff and organizations.
func (s *Store) RuleSchema(ctx context.Context) (rules.Schema, error) {
	sc := rules.Schema{Fields: map[string]rules.FieldDef{}, Categories: map[int64]bool{}, Teams: map[int64]bool{},
		Agents: map[int64]bool{}, Organizations: map[int64]bool{}}
	rows, err := s.pool.Query(ctx, `SELECT key, type, ARRAY(SELECT o->>'id' FROM jsonb_array_elements(options) o) FROM custom_fields`)
	if err != nil {
		return sc, fmt.Errorf("store: rule schema: %w", err)
	}
	for rows.Next() {
		var key string
		var d rules.FieldDef
		if err := rows.Scan(&key, &d.Type, &d.Options); err != nil {
			rows.Close()
			return sc, fmt.Errorf("store: rule schema: %w", err)
		}
		sc.Fields[key] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sc, fmt.Errorf("store: rule schema: %w", err)
	}
	for _, q := range []struct {
		sql  string
		into map[int64]bool
	}{
		{`SELECT id FROM categories WHERE archived_at IS NULL`, sc.Categories},
		{`SELECT id FROM teams`, sc.Teams},
		{`SELECT id FROM users WHERE role <> 'requester' AND NOT disabled`, sc.Agents},
		{`SELECT id FROM organizations`, sc.Organizations},
	} {
		rows, err := s.pool.Query(ctx, q.sql)
		if err != nil {
			return sc, fmt.Errorf("store: rule schema: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return sc, fmt.Errorf("store: rule schema: %w", err)
		}
		for _, id := range ids {
			q.into[id] = true
		}
	}
	return sc, nil
}
