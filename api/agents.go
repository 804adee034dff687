package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/workflows"
)

// Agents: availability (out of office), capacity and skills, which
// routing honours, and rerouting an agent's open tickets. An agent may set
// their own availability and reroute their own tickets; admins manage
// anyone's, and capacity and skills; leads do so for the agents of the
// teams they lead, and reroute only those agents' tickets of those teams
// (identity.ManageScope).

func (s *Server) listAgents(c *fiber.Ctx) error {
	as, err := s.store.Agents(c.UserContext(), s.cfg.DefaultAgentCapacity)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": nonNil(as)})
}

type agentAnswer struct {
	store.Agent
	Rerouted *int `json:"rerouted,omitempty"`
}

// agentTarget resolves :id and checks the caller may change that agent:
// themselves, or anyone with the manage action, which a lead has only over
// members of the teams they lead (403 for others; 404 for no such agent).
func (s *Server) agentTarget(c *fiber.Ctx, needManage bool) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound(fmt.Sprintf("agent %q does not exist", c.Params("id")))
	}
	p := principalOf(c)
	if id != p.User.ID || needManage {
		ok, err := s.enforcer.Enforce(string(p.User.Role), "agent", "manage")
		if err != nil {
			return 0, err
		}
		if !ok {
			c.Locals(auditDeniedKey, "not own agent settings")
			if id != p.User.ID {
				return 0, forbidden(typeForbidden, fmt.Sprintf("the %s role may change only its own availability", p.User.Role))
			}
			return 0, forbidden(typeForbidden, fmt.Sprintf("the %s role may not change capacity or skills", p.User.Role))
		}
	}
	if _, err := s.store.Agent(c.UserContext(), id, s.cfg.DefaultAgentCapacity); errors.Is(err, store.ErrNotFound) {
		return 0, notFound(fmt.Sprintf("agent %d does not exist (or is not an active agent, lead or admin)", id))
	} else if err != nil {
		return 0, err
	}
	if id != p.User.ID && !identity.ManageScope(*p).All() {
		teams, err := s.ident.TeamsOf(c.UserContext(), id)
		if err != nil {
			return 0, err
		}
		if !slices.ContainsFunc(teams, func(t int64) bool { return slices.Contains(p.LeadOf, t) }) {
			c.Locals(auditDeniedKey, "agent outside the teams led")
			return 0, forbidden(typeForbidden, fmt.Sprintf("agent %d is not in a team you lead", id))
		}
	}
	return id, nil
}

func (s *Server) updateAgent(c *fiber.Ctx) error {
	var b struct {
		Available Field[bool]     `json:"available"`
		AwayUntil Field[string]   `json:"away_until"`
		Capacity  Field[float64]  `json:"capacity"`
		Skills    Field[[]string] `json:"skills"`
		Reroute   Field[bool]     `json:"reroute"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var errs fieldErrors
	var u store.AgentUpdate
	available := boolean(&errs, "available", b.Available)
	if b.AwayUntil.Set {
		if b.AwayUntil.Null {
			if available == nil || *available {
				u.Away = &struct{ Until *time.Time }{}
			}
		} else if v := str(&errs, "away_until", b.AwayUntil); v != nil {
			t, err := time.Parse(time.RFC3339, *v)
			if err != nil {
				errs = append(errs, FieldError{Field: "away_until", Detail: "must be an RFC 3339 time, e.g. 2026-12-24T09:00:00Z"})
			} else if available != nil && *available {
				errs = append(errs, FieldError{Field: "away_until", Detail: "cannot be set together with \"available\": true"})
			} else {
				t = t.UTC()
				u.Away = &struct{ Until *time.Time }{Until: &t}
			}
		}
	}
	if available != nil && u.Away == nil {
		if *available {
			u.Away = &struct{ Until *time.Time }{}
		} else {
			u.Away = &struct{ Until *time.Time }{Until: &time.Time{}}
		}
	}
	if b.Capacity.Set {
		if b.Capacity.Null {
			u.Capacity = &struct{ N *int }{}
		} else if n := wholeNumber(&errs, "capacity", b.Capacity, 0, 100000); n != nil {
			u.Capacity = &struct{ N *int }{N: n}
		}
	}
	if skills, ok := stringList(&errs, "skills", b.Skills); ok {
		norm := make([]string, 0, len(skills))
		for i, sk := range skills {
			sk = strings.ToLower(strings.TrimSpace(sk))
			if sk == "" || len(sk) > rules.MaxSkillLen {
				errs = append(errs, FieldError{Field: fmt.Sprintf("skills[%d]", i), Detail: fmt.Sprintf("must be 1 to %d characters", rules.MaxSkillLen)})
				continue
			}
			norm = append(norm, sk)
		}
		u.Skills = &norm
	}
	reroute := boolean(&errs, "reroute", b.Reroute)
	if len(errs) > 0 {
		return invalid("the agent change is not valid", errs...)
	}
	id, err := s.agentTarget(c, u.Capacity != nil || u.Skills != nil)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := s.store.UpdateAgent(ctx, id, u); err != nil {
		return err
	}
	var ans agentAnswer
	if reroute != nil && *reroute {
		n, err := s.reroute(ctx, principalOf(c), id)
		if err != nil {
			return err
		}
		ans.Rerouted = &n
	}
	if ans.Agent, err = s.store.Agent(ctx, id, s.cfg.DefaultAgentCapacity); err != nil {
		return err
	}
	return c.JSON(ans)
}

func (s *Server) rerouteAgent(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	id, err := s.agentTarget(c, false)
	if err != nil {
		return err
	}
	n, err := s.reroute(c.UserContext(), principalOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rerouted": n})
}

// reroute asks each open ticket of an agent's to route again, away from
// them, through the ticket's own workflow (which decides in the routing
// transaction). Agents reroute all their own tickets; anyone else only the
// tickets p manages (identity.ManageScope: a lead, those of the teams they
// lead). Tickets closed for good meanwhile are skipped.
func (s *Server) reroute(ctx context.Context, p *identity.Principal, agentID int64) (int, error) {
	numbers, err := s.store.OpenTicketsOf(ctx, agentID)
	if err != nil {
		return 0, err
	}
	if sc := identity.ManageScope(*p); agentID != p.User.ID && !sc.All() {
		sql, args := sc.SQL("t", 2)
		managed := numbers[:0]
		for _, number := range numbers {
			_, err := s.store.TicketInScope(ctx, number, sql, args)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return 0, err
			}
			managed = append(managed, number)
		}
		numbers = managed
	}
	n := 0
	from := agentID
	for _, number := range numbers {
		id := "rrt-" + randomKey()
		req := workflows.ChangeRequest{RequestID: id, Actor: actorOf(p), RerouteFrom: &from}
		if _, err := s.sendUpdate(ctx, number, workflows.UpdateChange, id, req); err != nil {
			if isArchivedProblem(err) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}
