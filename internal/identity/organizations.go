package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Organization groups requesters of one customer. When SharedTickets is on,
// its requesters see each other's tickets.
type Organization struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	SharedTickets bool   `json:"shared_tickets"`
}

// CreateOrganization adds an organization; a name already taken is
// ErrConflict.
func (s *Service) CreateOrganization(ctx context.Context, name string, shared bool) (Organization, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return Organization{}, fmt.Errorf("identity: create organization: %w", invalid("name", "must be 1 to %d characters", maxNameLen))
	}
	o := Organization{Name: name, SharedTickets: shared}
	err := s.pool.QueryRow(ctx, `INSERT INTO organizations (name, shared_tickets) VALUES ($1, $2) RETURNING id`, name, shared).Scan(&o.ID)
	if pgCode(err) == pgUniqueViolation {
		return Organization{}, fmt.Errorf("identity: create organization %q: %w", name, ErrConflict)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("identity: create organization: %w", err)
	}
	return o, nil
}

// OrganizationByID returns the organization with id, or ErrNotFound.
func (s *Service) OrganizationByID(ctx context.Context, id int64) (Organization, error) {
	o := Organization{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT name, shared_tickets FROM organizations WHERE id = $1`, id).Scan(&o.Name, &o.SharedTickets)
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, fmt.Errorf("identity: organization %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("identity: organization %d: %w", id, err)
	}
	return o, nil
}

// ListOrganizations returns every organization by name.
func (s *Service) ListOrganizations(ctx context.Context) ([]Organization, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, shared_tickets FROM organizations ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("identity: list organizations: %w", err)
	}
	defer rows.Close()
	var out []Organization
	for rows.Next() {
		var o Organization
		if err := rows.Scan(&o.ID, &o.Name, &o.SharedTickets); err != nil {
			return nil, fmt.Errorf("identity: list organizations: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("identity: list organizations: %w", err)
	}
	return out, nil
}
