package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/internal/catalog"
)

// ResolveFacts reads what the rule "required fields before resolving"
// (lifecycle.PlanChange) decides on: the fields required to resolve that
// are not retired, the category path the ticket will have (categoryID,
// nearest first) and its custom field values with those the change sets
// merged in (the change's text waits in ticket_requests under requestID
// when withRequest).
func (s *Store) ResolveFacts(ctx context.Context, number int64, requestID string, withRequest bool, categoryID *int64) ([]catalog.Field, []int64, catalog.Values, error) {
	fail := func(err error) ([]catalog.Field, []int64, catalog.Values, error) {
		return nil, nil, nil, fmt.Errorf("store: resolve facts of ticket %d: %w", number, err)
	}
	all, err := s.CustomFields(ctx)
	if err != nil {
		return fail(err)
	}
	var fields []catalog.Field
	for _, f := range all {
		if f.RequiredToResolve && !f.Retired {
			fields = append(fields, f)
		}
	}
	var values map[string]any
	err = s.pool.QueryRow(ctx, `SELECT custom_fields FROM tickets WHERE number = $1`, number).Scan(&values)
	if errors.Is(err, pgx.ErrNoRows) {
		return fail(fmt.Errorf("ticket %d: %w", number, ErrNotFound))
	}
	if err != nil {
		return fail(err)
	}
	if withRequest {
		var text struct {
			CustomFields map[string]json.RawMessage `json:"custom_fields"`
		}
		if err := requestText(ctx, s.pool, number, requestID, &text); err != nil {
			return fail(err)
		}
		if values, _, err = mergeFields(values, text.CustomFields); err != nil {
			return fail(fmt.Errorf("request %q: %w", requestID, err))
		}
	}
	var path []int64
	if categoryID != nil && len(fields) > 0 {
		if path, err = categoryPath(ctx, s.pool, *categoryID); err != nil {
			return fail(err)
		}
	}
	return fields, path, values, nil
}

// categoryPath is a category and its ancestors, nearest first.
func categoryPath(ctx context.Context, db querier, id int64) ([]int64, error) {
	rows, err := db.Query(ctx, `WITH RECURSIVE up AS (
			SELECT id, parent_id, 0 AS depth FROM categories WHERE id = $1
			UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.parent_id)
		SELECT id FROM up ORDER BY depth`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
