package store

import (
	"context"
	"fmt"
)

// UserEmails maps user ids to their email addresses (unknown ids are left
// out): facet and export labels.
func (s *Store) UserEmails(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, email FROM users WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: user emails: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var email string
		if err := rows.Scan(&id, &email); err != nil {
			return nil, fmt.Errorf("store: user emails: %w", err)
		}
		out[id] = email
	}
	return out, rows.Err()
}
