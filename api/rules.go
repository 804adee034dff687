package api

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/rules"
	"github.com/helpdesk/helpdesk/internal/store"
)

// Priority and assignment rules (admins). A rule is validated as a whole
// against what exists (fields, categories, teams, agents, organizations);
// each problem names its place, e.g. conditions[0].value or
// actions.team_id.

// ruleBody is a rule as POSTed or PATCHed: the members sent replace the
// rule's.
type ruleBody struct {
	Name       Field[string]            `json:"name"`
	Kind       Field[string]            `json:"kind"`
	Position   Field[int]               `json:"position"`
	Enabled    Field[bool]              `json:"enabled"`
	Conditions Field[[]rules.Condition] `json:"conditions"`
	Actions    Field[rules.Actions]     `json:"actions"`
}

// overlay checks the members of b and sets those sent on r; none may be
// null.
func (b ruleBody) overlay(r *rules.Rule) []FieldError {
	var e fieldErrors
	replace(&e, "actions", b.Actions, &r.Actions)
	replace(&e, "conditions", b.Conditions, &r.Conditions)
	replace(&e, "enabled", b.Enabled, &r.Enabled)
	replace(&e, "kind", b.Kind, &r.Kind)
	replace(&e, "name", b.Name, &r.Name)
	replace(&e, "position", b.Position, &r.Position)
	return e
}

// replace sets *into to f's value when f was sent; null or another type is
// a field error.
func replace[T any](e *fieldErrors, name string, f Field[T], into *T) {
	switch {
	case !f.Set:
	case f.Null:
		e.add(name, "must not be null")
	case f.Err != nil:
		e.add(name, "has the wrong type: "+f.Err.Error())
	default:
		*into = f.V
	}
}

func (s *Server) listRules(c *fiber.Ctx) error {
	rs, err := s.store.Rules(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": nonNil(rs)})
}

func ruleID(c *fiber.Ctx) (int64, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound(fmt.Sprintf("rule %q does not exist", c.Params("id")))
	}
	return id, nil
}

func (s *Server) getRule(c *fiber.Ctx) error {
	id, err := ruleID(c)
	if err != nil {
		return err
	}
	r, err := s.store.Rule(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(fmt.Sprintf("rule %d does not exist", id))
	}
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) createRule(c *fiber.Ctx) error {
	var b ruleBody
	if err := decode(c, &b); err != nil {
		return err
	}
	r := rules.Rule{Enabled: true}
	if err := s.saveRule(c, &r, b); err != nil {
		return err
	}
	c.Location("/api/v1/rules/" + strconv.FormatInt(r.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *Server) updateRule(c *fiber.Ctx) error {
	id, err := ruleID(c)
	if err != nil {
		return err
	}
	var b ruleBody
	if err := decode(c, &b); err != nil {
		return err
	}
	r, err := s.store.Rule(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(fmt.Sprintf("rule %d does not exist", id))
	}
	if err != nil {
		return err
	}
	if err := s.saveRule(c, &r, b); err != nil {
		return err
	}
	return c.JSON(r)
}

// saveRule overlays the body's fields on r, validates and stores it.
func (s *Server) saveRule(c *fiber.Ctx, r *rules.Rule, b ruleBody) error {
	errs := b.overlay(r)
	if len(errs) > 0 {
		return invalid("the rule is not valid", errs...)
	}
	*r = rules.Normalize(*r)
	schema, err := s.store.RuleSchema(c.UserContext())
	if err != nil {
		return err
	}
	if probs := rules.Validate(*r, schema); len(probs) > 0 {
		for _, p := range probs {
			errs = append(errs, FieldError{Field: p.Field, Detail: p.Detail})
		}
		return invalid("the rule is not valid", errs...)
	}
	saved, err := s.store.SaveRule(c.UserContext(), *r)
	if err != nil {
		return err
	}
	*r = saved
	return nil
}

func (s *Server) deleteRule(c *fiber.Ctx) error {
	id, err := ruleID(c)
	if err != nil {
		return err
	}
	err = s.store.DeleteRule(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(fmt.Sprintf("rule %d does not exist", id))
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
