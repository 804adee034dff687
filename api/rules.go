package api

import (
	"encoding/json"
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

var ruleFields = []string{"name", "kind", "position", "enabled", "conditions", "actions"}

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
	obj, err := decodeObject(c, ruleFields...)
	if err != nil {
		return err
	}
	r := rules.Rule{Enabled: true}
	if err := s.saveRule(c, &r, obj); err != nil {
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
	obj, err := decodeObject(c, ruleFields...)
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
	if err := s.saveRule(c, &r, obj); err != nil {
		return err
	}
	return c.JSON(r)
}

// saveRule overlays the body's fields on r, validates and stores it.
func (s *Server) saveRule(c *fiber.Ctx, r *rules.Rule, obj map[string]json.RawMessage) error {
	var errs []FieldError
	for _, k := range sortedKeys(obj) {
		raw := obj[k]
		var target any
		switch k {
		case "name":
			target = &r.Name
		case "kind":
			target = &r.Kind
		case "position":
			target = &r.Position
		case "enabled":
			target = &r.Enabled
		case "conditions":
			r.Conditions = nil
			target = &r.Conditions
		case "actions":
			r.Actions = rules.Actions{}
			target = &r.Actions
		}
		if rawIsNull(raw) {
			errs = append(errs, FieldError{Field: k, Detail: "must not be null"})
			continue
		}
		if err := json.Unmarshal(raw, target); err != nil {
			errs = append(errs, FieldError{Field: k, Detail: "has the wrong type: " + err.Error()})
		}
	}
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
