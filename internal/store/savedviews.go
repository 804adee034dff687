package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/helpdesk/helpdesk/internal/savedview"
)

// Saved views (table views, migration 018). Who may see, share and change
// one is internal/savedview's rule, applied by the API; these queries
// only keep and find the rows.

// ErrLimit is returned when an owner already keeps the most views
// allowed.
var ErrLimit = errors.New("store: limit reached")

// ErrNoTeam is returned when a view names a team that does not exist.
var ErrNoTeam = errors.New("store: no such team")

const viewColumns = `id, owner_id, name, query, sort, visibility, team_id, position, created_at, updated_at`

func scanView(r pgx.Row) (savedview.View, error) {
	var v savedview.View
	var vis string
	err := r.Scan(&v.ID, &v.OwnerID, &v.Name, &v.Query, &v.Sort, &vis, &v.TeamID, &v.Position, &v.CreatedAt, &v.UpdatedAt)
	v.Visibility = savedview.Visibility(vis)
	return v, err
}

// ViewsFor returns the views that may be visible to a user: their own,
// those of the teams given (every team's when allTeams), and those shared
// with everyone. The caller still applies savedview.CanSee.
func (s *Store) ViewsFor(ctx context.Context, userID int64, teamIDs []int64, allTeams bool) ([]savedview.View, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+viewColumns+` FROM views
		WHERE owner_id = $1 OR visibility = 'everyone' OR (visibility = 'team' AND ($3 OR team_id = ANY($2)))`,
		userID, teamIDs, allTeams)
	if err != nil {
		return nil, fmt.Errorf("store: views: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (savedview.View, error) { return scanView(r) })
	if err != nil {
		return nil, fmt.Errorf("store: views: %w", err)
	}
	return out, nil
}

// View returns one view; ErrNotFound when there is none.
func (s *Store) View(ctx context.Context, id int64) (savedview.View, error) {
	v, err := scanView(s.pool.QueryRow(ctx, `SELECT `+viewColumns+` FROM views WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("store: view %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("store: view %d: %w", id, err)
	}
	return v, nil
}

// CreateView stores a new view for v.OwnerID, who may keep at most
// maxPerOwner (ErrLimit beyond). A name the owner already uses, in any
// case, is ErrConflict; a team that does not exist is ErrNoTeam.
func (s *Store) CreateView(ctx context.Context, v savedview.View, maxPerOwner int) (savedview.View, error) {
	var out savedview.View
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Creations by one owner queue on their user row, so two at once
		// cannot both pass the count.
		var n int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM views WHERE owner_id = u.id) FROM users u WHERE u.id = $1 FOR NO KEY UPDATE`,
			v.OwnerID).Scan(&n); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if n >= maxPerOwner {
			return ErrLimit
		}
		var err error
		out, err = scanView(tx.QueryRow(ctx, `INSERT INTO views (owner_id, name, query, sort, visibility, team_id, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+viewColumns,
			v.OwnerID, v.Name, v.Query, v.Sort, string(v.Visibility), v.TeamID, v.Position))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("store: create view %q: %w", v.Name, viewError(err))
	}
	return out, nil
}

// UpdateView replaces the stored view with v's id (its owner stays);
// ErrNotFound, ErrConflict and ErrNoTeam as CreateView.
func (s *Store) UpdateView(ctx context.Context, v savedview.View) (savedview.View, error) {
	out, err := scanView(s.pool.QueryRow(ctx, `UPDATE views SET name = $2, query = $3, sort = $4, visibility = $5, team_id = $6,
		position = $7, updated_at = now() WHERE id = $1 RETURNING `+viewColumns,
		v.ID, v.Name, v.Query, v.Sort, string(v.Visibility), v.TeamID, v.Position))
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("store: update view %d: %w", v.ID, viewError(err))
	}
	return out, nil
}

// DeleteView removes a view; ErrNotFound when there is none.
func (s *Store) DeleteView(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM views WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete view %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete view %d: %w", id, ErrNotFound)
	}
	return nil
}

// viewError maps the constraints a view write can break to this
// package's errors.
func viewError(err error) error {
	var pe *pgconn.PgError
	switch {
	case isUniqueViolation(err):
		return ErrConflict
	case errors.As(err, &pe) && pe.Code == "23503" && pe.ConstraintName == "views_team_id_fkey":
		return ErrNoTeam
	}
	return err
}
