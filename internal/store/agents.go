package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Agent is a staff member as routing sees them: availability, capacity,
// skills and current open load.
type Agent struct {
	ID        int64      `json:"id"`
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	TeamIDs   []int64    `json:"team_ids"`
	Available bool       `json:"available"`
	AwayUntil *time.Time `json:"away_until"`
	// Capacity is the agent's own cap (nil: the configured default);
	// EffectiveCapacity the cap in force (0: no cap).
	Capacity          *int     `json:"capacity"`
	EffectiveCapacity int      `json:"effective_capacity"`
	Skills            []string `json:"skills"`
	OpenTickets       int      `json:"open_tickets"`
}

const agentSelect = `SELECT u.id, u.email, u.name, u.role,
	ARRAY(SELECT m.team_id FROM team_members m WHERE m.user_id = u.id
	      UNION SELECT t.id FROM teams t WHERE t.lead_id = u.id ORDER BY 1),
	coalesce(u.away_until <= now(), true), CASE WHEN u.away_until = 'infinity' THEN NULL ELSE u.away_until END,
	u.capacity, coalesce(u.capacity, $1), u.skills,
	(SELECT count(*) FROM tickets k WHERE k.assignee_id = u.id AND k.status IN ('open', 'in_progress', 'pending'))
	FROM users u WHERE u.role <> 'requester' AND NOT u.disabled`

func scanAgent(r pgx.Row) (Agent, error) {
	var a Agent
	err := r.Scan(&a.ID, &a.Email, &a.Name, &a.Role, &a.TeamIDs, &a.Available, &a.AwayUntil,
		&a.Capacity, &a.EffectiveCapacity, &a.Skills, &a.OpenTickets)
	if a.TeamIDs == nil {
		a.TeamIDs = []int64{}
	}
	if a.Skills == nil {
		a.Skills = []string{}
	}
	return a, err
}

// Agents lists active agents, leads and admins by id; defaultCapacity is
// the configured cap for those without their own.
func (s *Store) Agents(ctx context.Context, defaultCapacity int) ([]Agent, error) {
	rows, err := s.pool.Query(ctx, agentSelect+` ORDER BY u.id`, defaultCapacity)
	if err != nil {
		return nil, fmt.Errorf("store: agents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Agent, error) { return scanAgent(r) })
	if err != nil {
		return nil, fmt.Errorf("store: agents: %w", err)
	}
	return out, nil
}

// Agent returns one active staff member; ErrNotFound otherwise.
func (s *Store) Agent(ctx context.Context, id int64, defaultCapacity int) (Agent, error) {
	a, err := scanAgent(s.pool.QueryRow(ctx, agentSelect+` AND u.id = $2`, defaultCapacity, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("store: agent %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("store: agent %d: %w", id, err)
	}
	return a, nil
}

// AgentUpdate changes routing settings of an agent; nil fields stay.
type AgentUpdate struct {
	// Away sets availability: Away.Until nil means available again; the
	// zero time means away until further notice.
	Away     *struct{ Until *time.Time }
	Capacity *struct{ N *int }
	Skills   *[]string
}

// UpdateAgent applies u; ErrNotFound when id is not an active staff member.
func (s *Store) UpdateAgent(ctx context.Context, id int64, u AgentUpdate) error {
	var sets []string
	args := []any{id}
	if u.Away != nil {
		switch {
		case u.Away.Until == nil:
			sets = append(sets, "away_until = NULL")
		case u.Away.Until.IsZero():
			sets = append(sets, "away_until = 'infinity'")
		default:
			args = append(args, *u.Away.Until)
			sets = append(sets, fmt.Sprintf("away_until = $%d", len(args)))
		}
	}
	if u.Capacity != nil {
		args = append(args, u.Capacity.N)
		sets = append(sets, fmt.Sprintf("capacity = $%d", len(args)))
	}
	if u.Skills != nil {
		args = append(args, *u.Skills)
		sets = append(sets, fmt.Sprintf("skills = $%d", len(args)))
	}
	if len(sets) == 0 {
		return nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+`, updated_at = now()
		WHERE id = $1 AND role <> 'requester' AND NOT disabled`, args...)
	if err != nil {
		return fmt.Errorf("store: update agent %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: update agent %d: %w", id, ErrNotFound)
	}
	return nil
}

// OpenTicketsOf lists the open, in-progress and pending tickets assigned
// to an agent (the ones a reroute moves), oldest first.
func (s *Store) OpenTicketsOf(ctx context.Context, agentID int64) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT number FROM tickets WHERE assignee_id = $1
		AND status IN ('open', 'in_progress', 'pending') AND archived_at IS NULL ORDER BY number`, agentID)
	if err != nil {
		return nil, fmt.Errorf("store: open tickets of %d: %w", agentID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("store: open tickets of %d: %w", agentID, err)
	}
	return out, nil
}
