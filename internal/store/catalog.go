package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/helpdesk/helpdesk/internal/catalog"
)

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Categories returns every category (archived ones too); catalog.NewTree
// orders them and names their paths.
func (s *Store) Categories(ctx context.Context) ([]catalog.Category, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, parent_id, archived_at IS NOT NULL FROM categories ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: categories: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalog.Category, error) {
		var c catalog.Category
		err := r.Scan(&c.ID, &c.Name, &c.ParentID, &c.Archived)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: categories: %w", err)
	}
	return out, nil
}

// CreateCategory adds a category under parentID (nil: at the root). A
// sibling with the same name (in any case) is ErrConflict.
func (s *Store) CreateCategory(ctx context.Context, name string, parentID *int64) (catalog.Category, error) {
	c := catalog.Category{Name: name, ParentID: parentID}
	err := s.pool.QueryRow(ctx, `INSERT INTO categories (name, parent_id) VALUES ($1, $2) RETURNING id`, name, parentID).Scan(&c.ID)
	if isUniqueViolation(err) {
		return c, fmt.Errorf("store: create category %q: %w", name, ErrConflict)
	}
	if err != nil {
		return c, fmt.Errorf("store: create category %q: %w", name, err)
	}
	return c, nil
}

// CategoryUpdate changes a category; nil fields stay as they are.
type CategoryUpdate struct {
	Name *string
	// Parent moves the category; Parent.ID nil moves it to the root.
	Parent *struct{ ID *int64 }
	// Archived archives (or restores) the category and its whole subtree.
	Archived *bool
}

// UpdateCategory applies u in one transaction. The caller has checked the
// move for cycles against the tree; the transaction locks every category
// row first so a concurrent move cannot make a cycle after that check.
func (s *Store) UpdateCategory(ctx context.Context, id int64, u CategoryUpdate, wouldCycle func([]catalog.Category) bool) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if u.Parent != nil && wouldCycle != nil {
			rows, err := tx.Query(ctx, `SELECT id, name, parent_id, archived_at IS NOT NULL FROM categories`)
			if err != nil {
				return err
			}
			all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalog.Category, error) {
				var c catalog.Category
				err := r.Scan(&c.ID, &c.Name, &c.ParentID, &c.Archived)
				return c, err
			})
			if err != nil {
				return err
			}
			if wouldCycle(all) {
				return errCycle
			}
		}
		var sets []string
		args := []any{id}
		if u.Name != nil {
			args = append(args, *u.Name)
			sets = append(sets, fmt.Sprintf("name = $%d", len(args)))
		}
		if u.Parent != nil {
			args = append(args, u.Parent.ID)
			sets = append(sets, fmt.Sprintf("parent_id = $%d", len(args)))
		}
		if len(sets) > 0 {
			tag, err := tx.Exec(ctx, `UPDATE categories SET `+strings.Join(sets, ", ")+`, updated_at = now() WHERE id = $1`, args...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return ErrNotFound
			}
		}
		if u.Archived != nil {
			q := `UPDATE categories SET archived_at = CASE WHEN $2 THEN coalesce(archived_at, now()) END, updated_at = now()
				WHERE id IN (` + subtreeSQL("$1") + `)`
			if _, err := tx.Exec(ctx, q, id, *u.Archived); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case isUniqueViolation(err):
		return fmt.Errorf("store: update category %d: %w", id, ErrConflict)
	case errors.Is(err, errCycle):
		return fmt.Errorf("store: update category %d: %w", id, ErrCycle)
	case err != nil:
		return fmt.Errorf("store: update category %d: %w", id, err)
	}
	return nil
}

var errCycle = errors.New("cycle")

// ErrCycle: the move would make a category its own ancestor.
var ErrCycle = errors.New("store: a category cannot move under itself")

const fieldColumns = `id, key, label, type, options, required, required_to_resolve, category_ids, retired_at IS NOT NULL, position,
	visible_to_requester`

func scanField(r pgx.Row) (catalog.Field, error) {
	var f catalog.Field
	var typ string
	var opts []byte
	err := r.Scan(&f.ID, &f.Key, &f.Label, &typ, &opts, &f.Required, &f.RequiredToResolve, &f.CategoryIDs, &f.Retired, &f.Position,
		&f.VisibleToRequester)
	if err != nil {
		return f, err
	}
	f.Type = catalog.FieldType(typ)
	if err := json.Unmarshal(opts, &f.Options); err != nil {
		return f, fmt.Errorf("options of field %s: %w", f.Key, err)
	}
	if f.Options == nil {
		f.Options = []catalog.Option{}
	}
	if f.CategoryIDs == nil {
		f.CategoryIDs = []int64{}
	}
	return f, nil
}

// CustomFields returns every custom field definition (retired ones too),
// by position then id.
func (s *Store) CustomFields(ctx context.Context) ([]catalog.Field, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+fieldColumns+` FROM custom_fields ORDER BY position, id`)
	if err != nil {
		return nil, fmt.Errorf("store: custom fields: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalog.Field, error) { return scanField(r) })
	if err != nil {
		return nil, fmt.Errorf("store: custom fields: %w", err)
	}
	return out, nil
}

// CustomField returns one definition; ErrNotFound when there is none.
func (s *Store) CustomField(ctx context.Context, id int64) (catalog.Field, error) {
	f, err := scanField(s.pool.QueryRow(ctx, `SELECT `+fieldColumns+` FROM custom_fields WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, fmt.Errorf("store: custom field %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("store: custom field %d: %w", id, err)
	}
	return f, nil
}

// SaveCustomField inserts f (ID 0) or updates its mutable parts (label,
// options, flags, categories, position, retired, visibility to
// requesters). A key already used, by a live or retired field, is
// ErrConflict.
func (s *Store) SaveCustomField(ctx context.Context, f catalog.Field) (catalog.Field, error) {
	opts, err := json.Marshal(f.Options)
	if err != nil {
		return f, fmt.Errorf("store: save custom field %s: %w", f.Key, err)
	}
	cats := f.CategoryIDs
	if cats == nil {
		cats = []int64{}
	}
	if f.ID == 0 {
		err = s.pool.QueryRow(ctx, `INSERT INTO custom_fields (key, label, type, options, required, required_to_resolve, category_ids, position,
				visible_to_requester)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			f.Key, f.Label, string(f.Type), opts, f.Required, f.RequiredToResolve, cats, f.Position, f.VisibleToRequester).Scan(&f.ID)
	} else {
		var tag pgconn.CommandTag
		tag, err = s.pool.Exec(ctx, `UPDATE custom_fields SET label = $2, options = $3, required = $4, required_to_resolve = $5,
			category_ids = $6, position = $7, retired_at = CASE WHEN $8 THEN coalesce(retired_at, now()) END,
			visible_to_requester = $9, updated_at = now()
			WHERE id = $1`, f.ID, f.Label, opts, f.Required, f.RequiredToResolve, cats, f.Position, f.Retired, f.VisibleToRequester)
		if err == nil && tag.RowsAffected() == 0 {
			err = ErrNotFound
		}
	}
	if isUniqueViolation(err) {
		return f, fmt.Errorf("store: save custom field %s: %w", f.Key, ErrConflict)
	}
	if err != nil {
		return f, fmt.Errorf("store: save custom field %s: %w", f.Key, err)
	}
	return f, nil
}
