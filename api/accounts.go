package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/identity"
)

// login signs in with email and password. A new session always replaces
// whatever session cookie came with the request (no session fixation).
func (s *Server) login(c *fiber.Ctx) error {
	var b struct {
		Email    Field[string] `json:"email"`
		Password Field[string] `json:"password"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var errs fieldErrors
	email, password := required(&errs, "email", b.Email), required(&errs, "password", b.Password)
	if len(errs) > 0 {
		return invalid("the sign-in request is not valid", errs...)
	}
	ctx := c.UserContext()
	u, err := s.ident.Authenticate(ctx, *email, *password, s.clientIP(c))
	switch {
	case errors.Is(err, identity.ErrThrottled):
		s.audit(c, nil, "auth.login", "user:"+strings.ToLower(*email), audit.ResultDenied, map[string]any{"reason": "throttled"})
		return &Problem{Type: typeTooManyAttempts, Title: "Too many attempts", Status: fiber.StatusTooManyRequests,
			Detail: "too many failed sign-ins; wait before trying again", RetryAfter: 60,
			headers: map[string]string{fiber.HeaderRetryAfter: "60"}}
	case errors.Is(err, identity.ErrInvalidCredentials):
		s.audit(c, nil, "auth.login", "user:"+strings.ToLower(*email), audit.ResultDenied, map[string]any{"reason": "invalid credentials"})
		return &Problem{Type: typeInvalidCredentials, Title: "Invalid credentials", Status: fiber.StatusUnauthorized,
			Detail: "wrong email or password"}
	case err != nil:
		return err
	}
	if old := c.Cookies(sessionCookie); old != "" {
		_ = s.ident.RevokeSession(ctx, old)
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	p := &identity.Principal{User: u, Via: identity.ViaSession}
	s.audit(c, p, "auth.login", fmt.Sprintf("user:%d", u.ID), audit.ResultAllowed, nil)
	return c.JSON(fiber.Map{"user": u})
}

// startSession creates a session for u and sets the session and CSRF
// cookies.
func (s *Server) startSession(c *fiber.Ctx, u identity.User) error {
	secret, expires, err := s.ident.CreateSession(c.UserContext(), u.ID, s.clientIP(c), string(c.Request().Header.UserAgent()), s.cfg.SessionTTL.D())
	if err != nil {
		return err
	}
	secure := c.Protocol() == "https"
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: expires,
		HTTPOnly: true, Secure: secure, SameSite: fiber.CookieSameSiteLaxMode})
	c.Cookie(&fiber.Cookie{Name: csrfCookie, Value: randomToken(24), Path: "/", Expires: expires,
		HTTPOnly: false, Secure: secure, SameSite: fiber.CookieSameSiteLaxMode})
	return nil
}

func (s *Server) logout(c *fiber.Ctx) error {
	p := principalOf(c)
	if p.Via == identity.ViaSession {
		if err := s.ident.RevokeSession(c.UserContext(), c.Cookies(sessionCookie)); err != nil {
			return err
		}
	}
	for _, name := range []string{sessionCookie, csrfCookie} {
		c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
			HTTPOnly: name == sessionCookie, SameSite: fiber.CookieSameSiteLaxMode})
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) providers(c *fiber.Ctx) error {
	sso := fiber.Map{"enabled": s.sso != nil}
	if s.sso != nil {
		sso["name"] = "Single sign-on"
		sso["start_url"] = "/api/v1/auth/sso/start"
	}
	return c.JSON(fiber.Map{"local": true, "sso": sso})
}

// createToken makes a token for the caller with no more than they hold
// (identity.IssueToken): a token passes on only its own scopes, a session
// what the user's role allows. Listing and revoking tokens need a session
// or the admin scope (the route table).
func (s *Server) createToken(c *fiber.Ctx) error {
	var b struct {
		Name      Field[string]   `json:"name"`
		Scopes    Field[[]string] `json:"scopes"`
		ExpiresAt Field[string]   `json:"expires_at"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var errs fieldErrors
	name := required(&errs, "name", b.Name)
	scopes, _ := stringList(&errs, "scopes", b.Scopes)
	var expires *time.Time
	if raw := str(&errs, "expires_at", b.ExpiresAt); raw != nil {
		t, err := time.Parse(time.RFC3339, *raw)
		switch {
		case err != nil:
			errs = append(errs, FieldError{Field: "expires_at", Detail: "must be an RFC 3339 time"})
		case !t.After(time.Now()):
			errs = append(errs, FieldError{Field: "expires_at", Detail: "must be in the future"})
		default:
			expires = &t
		}
	}
	if len(errs) > 0 {
		return invalid("the token request is not valid", errs...)
	}
	p := principalOf(c)
	tok, info, err := s.ident.IssueToken(c.UserContext(), *p, *name, scopes, expires)
	if errors.Is(err, identity.ErrForbidden) {
		c.Locals(auditDeniedKey, "token scope escalation")
	}
	if err != nil {
		return identityProblem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": tok, "info": info})
}

func (s *Server) listTokens(c *fiber.Ctx) error {
	items, err := s.ident.ListTokens(c.UserContext(), principalOf(c).User.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": nonNil(items)})
}

func (s *Server) revokeToken(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil {
		return notFound("no such token")
	}
	if err := s.ident.RevokeToken(c.UserContext(), principalOf(c).User.ID, id); err != nil {
		if errors.Is(err, identity.ErrNotFound) {
			return notFound("no such token")
		}
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	var after int64
	if v := c.Query("cursor"); v != "" {
		n, ok := decodeCursor(v)
		if !ok {
			return invalid("the query is not valid", FieldError{Field: "cursor", Detail: "is not a cursor this API returned"})
		}
		after = n
	}
	limit, perr := queryLimit(c)
	if perr != nil {
		return perr
	}
	users, err := s.ident.ListUsers(c.UserContext(), limit+1, after)
	if err != nil {
		return err
	}
	var next *string
	if len(users) > limit {
		users = users[:limit]
		cur := encodeCursor(users[limit-1].ID)
		next = &cur
	}
	return c.JSON(fiber.Map{"items": nonNil(users), "next_cursor": next})
}

func (s *Server) createUser(c *fiber.Ctx) error {
	var b struct {
		Email          Field[string] `json:"email"`
		Name           Field[string] `json:"name"`
		Role           Field[string] `json:"role"`
		Password       Field[string] `json:"password"`
		OrganizationID Field[int64]  `json:"organization_id"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var errs fieldErrors
	email := str(&errs, "email", b.Email)
	name := str(&errs, "name", b.Name)
	role := str(&errs, "role", b.Role)
	password := str(&errs, "password", b.Password)
	nu := identity.NewUser{}
	if email == nil {
		if !errs.has("email") {
			errs = append(errs, FieldError{Field: "email", Detail: "is required"})
		}
	} else {
		nu.Email = *email
	}
	if name != nil {
		nu.Name = *name
	}
	if role == nil {
		if !errs.has("role") {
			errs = append(errs, FieldError{Field: "role", Detail: "is required: requester, agent, lead or admin"})
		}
	} else if r, err := identity.ParseRole(*role); err != nil {
		errs = append(errs, FieldError{Field: "role", Detail: err.Error()})
	} else {
		nu.Role = r
	}
	if password != nil {
		nu.Password = *password
	}
	if id := positive(&errs, "organization_id", b.OrganizationID, "must be a positive integer"); id != nil {
		nu.OrganizationID = id
	}
	if len(errs) > 0 {
		return invalid("the user is not valid", errs...)
	}
	u, err := s.ident.CreateUser(c.UserContext(), nu)
	if err != nil {
		return identityProblem(err)
	}
	c.Location(fmt.Sprintf("/api/v1/users/%d", u.ID))
	return c.Status(fiber.StatusCreated).JSON(u)
}

func (s *Server) listTeams(c *fiber.Ctx) error {
	teams, err := s.ident.ListTeams(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": nonNil(teams)})
}

func (s *Server) createTeam(c *fiber.Ctx) error {
	var b struct {
		Name      Field[string]  `json:"name"`
		LeadID    Field[int64]   `json:"lead_id"`
		MemberIDs Field[[]int64] `json:"member_ids"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var errs fieldErrors
	name := required(&errs, "name", b.Name)
	lead := positive(&errs, "lead_id", b.LeadID, "must be a user id")
	var members []int64
	if m := typed(&errs, "member_ids", b.MemberIDs, "must be an array of user ids"); m != nil {
		members = *m
	}
	if len(errs) > 0 {
		return invalid("the team is not valid", errs...)
	}
	t, err := s.ident.CreateTeam(c.UserContext(), *name, lead, members)
	if err != nil {
		return identityProblem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(t)
}

func (s *Server) auditLogEntries(c *fiber.Ctx) error {
	q := audit.Query{Actor: c.Query("actor"), Action: c.Query("action"), Result: c.Query("result"), Cursor: c.Query("cursor")}
	var errs []FieldError
	switch q.Result {
	case "", audit.ResultAllowed, audit.ResultDenied, audit.ResultError:
	default:
		errs = append(errs, FieldError{Field: "result", Detail: "must be allowed, denied or error"})
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if v := c.Query(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				errs = append(errs, FieldError{Field: f.name, Detail: "must be an RFC 3339 time"})
				continue
			}
			*f.dst = &t
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			errs = append(errs, FieldError{Field: "limit", Detail: "must be a whole number from 1 to 500"})
		}
		q.Limit = n
	}
	if len(errs) > 0 {
		return invalid("the query is not valid", errs...)
	}
	entries, next, err := s.auditLog.Find(c.UserContext(), q)
	if errors.Is(err, audit.ErrBadCursor) {
		return invalid("the query is not valid", FieldError{Field: "cursor", Detail: "is not a cursor this API returned"})
	}
	if err != nil {
		return err
	}
	var nextPtr *string
	if next != "" {
		nextPtr = &next
	}
	return c.JSON(fiber.Map{"items": nonNil(entries), "next_cursor": nextPtr})
}

// identityProblem maps identity errors to problems.
func identityProblem(err error) error {
	var fe *identity.FieldError
	var forb *identity.ForbiddenError
	switch {
	case errors.As(err, &fe):
		return invalid("the request is not valid", FieldError{Field: fe.Field, Detail: fe.Detail})
	case errors.As(err, &forb):
		return forbidden(typeForbidden, forb.Detail)
	case errors.Is(err, identity.ErrConflict):
		return &Problem{Type: typeConflict, Title: "Conflict", Status: fiber.StatusConflict, Detail: err.Error()}
	case errors.Is(err, identity.ErrNotFound):
		return notFound(err.Error())
	}
	return err
}

func queryLimit(c *fiber.Ctx) (int, error) {
	limit := 25
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, invalid("the query is not valid", FieldError{Field: "limit", Detail: "must be a whole number from 1 to 100"})
		}
		limit = n
	}
	return limit, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) listOrganizations(c *fiber.Ctx) error {
	orgs, err := s.ident.ListOrganizations(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": nonNil(orgs)})
}

func (s *Server) createOrganization(c *fiber.Ctx) error {
	var b struct {
		Name          Field[string] `json:"name"`
		SharedTickets Field[bool]   `json:"shared_tickets"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var errs fieldErrors
	name := required(&errs, "name", b.Name)
	shared := false
	if v := boolean(&errs, "shared_tickets", b.SharedTickets); v != nil {
		shared = *v
	}
	if len(errs) > 0 {
		return invalid("the organization is not valid", errs...)
	}
	o, err := s.ident.CreateOrganization(c.UserContext(), *name, shared)
	if err != nil {
		return identityProblem(err)
	}
	return c.Status(fiber.StatusCreated).JSON(o)
}
