package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Team is a group of agents that works a queue of tickets. Its lead sees
// the team's tickets like a member does, whether or not they are listed as
// a member.
type Team struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	LeadID    *int64  `json:"lead_id"`
	MemberIDs []int64 `json:"member_ids"`
}

const teamColumns = `t.id, t.name, t.lead_id,
	ARRAY(SELECT m.user_id FROM team_members m WHERE m.team_id = t.id ORDER BY m.user_id)`

func scanTeam(row pgx.Row) (Team, error) {
	var t Team
	err := row.Scan(&t.ID, &t.Name, &t.LeadID, &t.MemberIDs)
	return t, err
}

// checkStaff fails unless every id is an existing agent, lead or admin:
// requesters do not work tickets, so they cannot be on a team.
func checkStaff(ctx context.Context, q pgx.Tx, field string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var staff []int64
	err := q.QueryRow(ctx, `SELECT ARRAY(SELECT id FROM users WHERE id = ANY($1) AND role <> 'requester')`, ids).Scan(&staff)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(staff, id) {
			return invalid(field, "user %d does not exist or is a requester", id)
		}
	}
	return nil
}

// CreateTeam adds a team with an optional lead and members, who must be
// agents, leads or admins. A name already taken (in any case) is
// ErrConflict.
func (s *Service) CreateTeam(ctx context.Context, name string, leadID *int64, memberIDs []int64) (Team, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return Team{}, fmt.Errorf("identity: create team: %w", invalid("name", "must be 1 to %d characters", maxNameLen))
	}
	members := slices.Clone(memberIDs)
	slices.Sort(members)
	members = slices.Compact(members)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Team{}, fmt.Errorf("identity: create team: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if leadID != nil {
		if err := checkStaff(ctx, tx, "lead_id", []int64{*leadID}); err != nil {
			return Team{}, fmt.Errorf("identity: create team: %w", err)
		}
	}
	if err := checkStaff(ctx, tx, "member_ids", members); err != nil {
		return Team{}, fmt.Errorf("identity: create team: %w", err)
	}
	t := Team{Name: name, LeadID: leadID, MemberIDs: members}
	err = tx.QueryRow(ctx, `INSERT INTO teams (name, lead_id) VALUES ($1, $2) RETURNING id`, name, leadID).Scan(&t.ID)
	if pgCode(err) == pgUniqueViolation {
		return Team{}, fmt.Errorf("identity: create team %q: %w", name, ErrConflict)
	}
	if err != nil {
		return Team{}, fmt.Errorf("identity: create team: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id) SELECT $1, unnest($2::bigint[])`, t.ID, members); err != nil {
		return Team{}, fmt.Errorf("identity: create team: members: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Team{}, fmt.Errorf("identity: create team: %w", err)
	}
	if t.MemberIDs == nil {
		t.MemberIDs = []int64{}
	}
	return t, nil
}

// ListTeams returns every team in name order.
func (s *Service) ListTeams(ctx context.Context) ([]Team, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+teamColumns+` FROM teams t ORDER BY lower(t.name)`)
	if err != nil {
		return nil, fmt.Errorf("identity: list teams: %w", err)
	}
	teams, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Team, error) { return scanTeam(row) })
	if err != nil {
		return nil, fmt.Errorf("identity: list teams: %w", err)
	}
	return teams, nil
}

// TeamByID returns the team with id, or ErrNotFound.
func (s *Service) TeamByID(ctx context.Context, id int64) (Team, error) {
	t, err := scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamColumns+` FROM teams t WHERE t.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Team{}, fmt.Errorf("identity: team %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Team{}, fmt.Errorf("identity: team %d: %w", id, err)
	}
	return t, nil
}

// TeamByName returns the team named name (case-insensitive), or ErrNotFound.
func (s *Service) TeamByName(ctx context.Context, name string) (Team, error) {
	t, err := scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamColumns+` FROM teams t WHERE lower(t.name) = lower($1)`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Team{}, fmt.Errorf("identity: team %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Team{}, fmt.Errorf("identity: team %q: %w", name, err)
	}
	return t, nil
}

// AddMember puts a user on a team; adding someone twice is not an error.
// The team must exist (else ErrNotFound) and the user must be staff.
func (s *Service) AddMember(ctx context.Context, teamID, userID int64) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("identity: add member: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := checkStaff(ctx, tx, "user_id", []int64{userID}); err != nil {
		return fmt.Errorf("identity: add member: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, teamID, userID)
	if pgCode(err) == pgForeignKeyViolation {
		return fmt.Errorf("identity: add member: team %d: %w", teamID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("identity: add member: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("identity: add member: %w", err)
	}
	return nil
}

// RemoveMember takes a user off a team; ErrNotFound when they were not on it.
func (s *Service) RemoveMember(ctx context.Context, teamID, userID int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID)
	if err != nil {
		return fmt.Errorf("identity: remove member: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("identity: remove member: user %d on team %d: %w", userID, teamID, ErrNotFound)
	}
	return nil
}

// teamsOfSQL selects, for the user id in column expression %s, the ids of
// the teams they are a member or the lead of, ascending.
const teamsOfSQL = `ARRAY(SELECT t.id FROM teams t
	WHERE t.lead_id = %[1]s OR EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.id AND m.user_id = %[1]s)
	ORDER BY t.id)`

// TeamsOf returns the ids of the teams whose tickets userID works: those
// they are a member of and those they lead, ascending.
func (s *Service) TeamsOf(ctx context.Context, userID int64) ([]int64, error) {
	var ids []int64
	if err := s.pool.QueryRow(ctx, `SELECT `+fmt.Sprintf(teamsOfSQL, "$1::bigint"), userID).Scan(&ids); err != nil {
		return nil, fmt.Errorf("identity: teams of %d: %w", userID, err)
	}
	return ids, nil
}
