package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
)

// refField reads an optional reference to a user or team: a JSON number
// (the id) or string (an email or team name). present reports whether the
// field was in the body at all; null reads as present with id nil and
// means "clear".
type refValue struct {
	present bool
	null    bool
	id      int64
	name    string
}

func refField(obj map[string]json.RawMessage, name string, errs *[]FieldError) refValue {
	raw, ok := obj[name]
	if !ok {
		return refValue{}
	}
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return refValue{present: true, null: true}
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil {
		switch x := v.(type) {
		case json.Number:
			n = x
			id, err := n.Int64()
			if err != nil || id <= 0 {
				*errs = append(*errs, FieldError{Field: name, Detail: "must be a positive id, a name or email string, or null"})
				return refValue{}
			}
			return refValue{present: true, id: id}
		case string:
			s := strings.TrimSpace(x)
			if s == "" {
				return refValue{present: true, null: true}
			}
			return refValue{present: true, name: s}
		}
	}
	*errs = append(*errs, FieldError{Field: name, Detail: "must be a positive id, a name or email string, or null"})
	return refValue{}
}

// resolveAssignee turns a reference into the id of an active agent, lead or
// admin; anything else is a field error naming the reference.
func (s *Server) resolveAssignee(ctx context.Context, field string, r refValue) (*int64, *FieldError, error) {
	if !r.present || r.null {
		return nil, nil, nil
	}
	var u identity.User
	var err error
	if r.name != "" {
		u, err = s.ident.UserByEmail(ctx, r.name)
	} else {
		u, err = s.ident.UserByID(ctx, r.id)
	}
	if errors.Is(err, identity.ErrNotFound) {
		return nil, &FieldError{Field: field, Detail: fmt.Sprintf("no user %s", r.describe())}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled || !u.Role.Staff() {
		return nil, &FieldError{Field: field, Detail: fmt.Sprintf("user %s is not an active agent, lead or admin", r.describe())}, nil
	}
	return &u.ID, nil, nil
}

// resolveTeam turns a reference into a team id.
func (s *Server) resolveTeam(ctx context.Context, field string, r refValue) (*int64, *FieldError, error) {
	if !r.present || r.null {
		return nil, nil, nil
	}
	var t identity.Team
	var err error
	if r.name != "" {
		t, err = s.ident.TeamByName(ctx, r.name)
	} else {
		t, err = s.ident.TeamByID(ctx, r.id)
	}
	if errors.Is(err, identity.ErrNotFound) {
		return nil, &FieldError{Field: field, Detail: fmt.Sprintf("no team %s", r.describe())}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return &t.ID, nil, nil
}

func (r refValue) describe() string {
	if r.name != "" {
		return fmt.Sprintf("%q", r.name)
	}
	return fmt.Sprintf("with id %d", r.id)
}

// queryInt reads the optional whole-number query parameter name: absent, it
// is def; outside [lo, hi] or not a number, it adds a field error with
// detail and stays def.
func queryInt(c *fiber.Ctx, name string, lo, hi, def int64, detail string, errs *[]FieldError) int64 {
	v := c.Query(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		*errs = append(*errs, FieldError{Field: name, Detail: detail})
		return def
	}
	return n
}
