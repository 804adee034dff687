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

// refValue is an optional reference to a user or team: a JSON number
// (the id) or string (an email or team name). present reports whether the
// field was in the body at all; null (or an empty string) reads as present
// with null set and means "clear".
type refValue struct {
	present bool
	null    bool
	id      int64
	name    string
}

// ref reads reference f; a value that is no reference adds a field error
// and reads as absent.
func ref(e *fieldErrors, name string, f Field[json.RawMessage]) refValue {
	if !f.Set {
		return refValue{}
	}
	if f.Null {
		return refValue{present: true, null: true}
	}
	dec := json.NewDecoder(bytes.NewReader(f.V))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil {
		switch x := v.(type) {
		case json.Number:
			if id, err := x.Int64(); err == nil && id > 0 {
				return refValue{present: true, id: id}
			}
		case string:
			if s := strings.TrimSpace(x); s != "" {
				return refValue{present: true, name: s}
			}
			return refValue{present: true, null: true}
		}
	}
	e.add(name, "must be a positive id, a name or email string, or null")
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
