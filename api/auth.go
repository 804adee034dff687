package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Cookie names of a browser session. The CSRF cookie is readable by the
// page, which echoes it in X-CSRF-Token on unsafe requests (double submit).
const (
	sessionCookie = "helpdesk_session"
	csrfCookie    = "csrf_token"
	csrfHeader    = "X-CSRF-Token"
	principalKey  = "principal"
	ticketKey     = "ticket"
	// auditDeniedKey: a handler that refuses on its own (e.g. a hidden
	// attachment, answered 404 like a missing one) sets the reason here so
	// the attempt is audited as denied.
	auditDeniedKey = "audit_denied"
	// auditObjectKey and auditDetailKey: a handler names the object it
	// acted on (e.g. "view:42" on a route without a ticket) and adds to
	// the entry's detail what a reader of the log needs (a string and a
	// map[string]any, owned by the handler: not Fiber's buffers).
	auditObjectKey = "audit_object"
	auditDetailKey = "audit_detail"
)

// principalSource resolves credentials: *identity.Service, or the
// *identity.PrincipalCache in front of it.
type principalSource interface {
	TokenPrincipal(ctx context.Context, token string) (identity.Principal, error)
	SessionPrincipal(ctx context.Context, secret string) (identity.Principal, error)
}

// access says what a route does, for authorization and the audit log.
type access struct {
	object string // Casbin object kind: ticket, user, team, audit_log, token, self
	action string // Casbin action: create, read, list, …
	scope  string // API token scope needed: tickets:read, tickets:write, admin
	// ticket: the route names one ticket in :id, which must be visible to
	// the caller (404 otherwise) before the action is authorized.
	ticket bool
}

// Route is one registered API route and what it requires (for the security
// matrix test and the docs).
type Route struct {
	Method, Path   string
	Public         bool
	Object, Action string
	Scope          string
}

func (s *Server) handle(method, path string, a *access, h fiber.Handler) {
	r := Route{Method: method, Path: path, Public: a == nil}
	if a != nil {
		r.Object, r.Action, r.Scope = a.object, a.action, a.scope
		h = s.guard(*a, h)
	}
	s.routes = append(s.routes, r)
	s.app.Add(method, path, h)
}

// Routes lists every API route with its access rule.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// authenticate resolves the caller from a bearer token or a session cookie.
// No credentials at all is (nil, nil); credentials that do not check out are
// an error, never a silent anonymous request.
func (s *Server) authenticate(c *fiber.Ctx) (*identity.Principal, error) {
	ctx := c.UserContext()
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(tok) == "" {
			return nil, identity.ErrUnauthenticated
		}
		p, err := s.principals.TokenPrincipal(ctx, strings.TrimSpace(tok))
		if err != nil {
			return nil, err
		}
		return &p, nil
	}
	if v := c.Cookies(sessionCookie); v != "" {
		p, err := s.principals.SessionPrincipal(ctx, v)
		if err != nil {
			return nil, err
		}
		return &p, nil
	}
	return nil, nil
}

func principalOf(c *fiber.Ctx) *identity.Principal {
	p, _ := c.Locals(principalKey).(*identity.Principal)
	return p
}

func unauthenticated(detail string) *Problem {
	return &Problem{Type: typeUnauthenticated, Title: "Unauthenticated", Status: fiber.StatusUnauthorized, Detail: detail,
		headers: map[string]string{fiber.HeaderWWWAuthenticate: `Bearer realm="helpdesk"`}}
}

func forbidden(typ, detail string) *Problem {
	return &Problem{Type: typ, Title: "Forbidden", Status: fiber.StatusForbidden, Detail: detail}
}

// guard is the one place every protected route is authorized: credentials
// (401), CSRF for cookie sessions, token scope and role (403), object
// visibility (404), and an audit entry for every attempt.
func (s *Server) guard(a access, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		object := a.object
		if a.ticket {
			object = "ticket:" + c.Params("id")
		}
		p, err := s.authenticate(c)
		if err != nil && !errors.Is(err, identity.ErrUnauthenticated) {
			return err // the database failed, not the caller
		}
		if err != nil || p == nil {
			detail := "sign in or send an API token"
			if err != nil {
				detail = "the session or API token is invalid, expired or revoked"
			}
			s.audit(c, nil, a.object+"."+a.action, object, audit.ResultDenied, map[string]any{"reason": "unauthenticated"})
			return unauthenticated(detail)
		}
		c.Locals(principalKey, p)
		if p.Via == identity.ViaSession && isUnsafe(c.Method()) && !validCSRF(c) {
			s.audit(c, p, a.object+"."+a.action, object, audit.ResultDenied, map[string]any{"reason": "csrf"})
			return forbidden(typeCSRF, "missing or wrong X-CSRF-Token header; send the csrf_token cookie's value")
		}
		if a.ticket {
			n, err := strconv.ParseInt(c.Params("id"), 10, 64)
			visible := err == nil && n > 0
			if visible {
				sql, args := s.scope(p).SQL("t", 2)
				var t ticket.Ticket
				t, err = s.store.TicketInScope(c.UserContext(), n, sql, args)
				visible = err == nil
				if visible {
					c.Locals(ticketKey, t) // the handler need not read it again
				}
				if err != nil && !isNotFound(err) {
					return err
				}
			}
			if !visible {
				s.audit(c, p, a.object+"."+a.action, object, audit.ResultDenied, map[string]any{"reason": "not visible"})
				return notFound(fmt.Sprintf("ticket %q does not exist", c.Params("id")))
			}
		}
		if a.scope != "" && !p.HasScope(a.scope) {
			s.audit(c, p, a.object+"."+a.action, object, audit.ResultDenied, map[string]any{"reason": "token scope", "scope": a.scope})
			return forbidden(typeForbidden, "this API token lacks the "+a.scope+" scope")
		}
		ok, err := s.enforcer.Enforce(string(p.User.Role), a.object, a.action)
		if err != nil {
			return err
		}
		if !ok {
			s.audit(c, p, a.object+"."+a.action, object, audit.ResultDenied, map[string]any{"reason": "role"})
			return forbidden(typeForbidden, fmt.Sprintf("the %s role may not %s %s", p.User.Role, a.action, a.object))
		}
		herr := h(c)
		if herr == nil && isUnsafe(c.Method()) && changesPrincipals(a.object) && s.principalCache != nil {
			// This process must not serve the next request from a cache
			// entry the change just made stale (a revoked token, an
			// ended session, a demoted user).
			sctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
			if err := s.principalCache.Sync(sctx); err != nil {
				s.log.Warn("principal cache not yet in step with this change", "err", err)
			}
			cancel()
		}
		result := audit.ResultAllowed
		status := c.Response().StatusCode()
		if herr != nil {
			var pr *Problem
			if errors.As(herr, &pr) {
				status = pr.Status
			} else {
				status = 500
			}
		}
		detail := map[string]any{"status": status}
		if o, ok := c.Locals(auditObjectKey).(string); ok && o != "" {
			object = o
		}
		if extra, ok := c.Locals(auditDetailKey).(map[string]any); ok {
			for k, v := range extra {
				if _, taken := detail[k]; !taken {
					detail[k] = v
				}
			}
		}
		if status >= 500 {
			result = audit.ResultError
		} else if reason, ok := c.Locals(auditDeniedKey).(string); ok && reason != "" {
			result = audit.ResultDenied
			detail["reason"] = reason
		}
		// An allowed read is answered while its entry is committed with
		// the next batch; denials, failures and changes wait until theirs
		// is durable (docs/benchmarks.md, "Authorization cost").
		queued := result == audit.ResultAllowed && !isUnsafe(c.Method())
		if err := s.record(c, p, a.object+"."+a.action, object, result, detail, queued); err != nil {
			// No read is answered without its audit entry.
			id := c.GetRespHeader(fiber.HeaderXRequestID)
			c.Response().Reset()
			c.Set(fiber.HeaderXRequestID, id)
			return unavailable("the audit log is not keeping up; try again shortly", 1)
		}
		return herr
	}
}

// changesPrincipals reports whether a change to objects of this kind can
// alter or end what a credential stands for (migration 013's triggers
// announce those changes).
func changesPrincipals(object string) bool {
	switch object {
	case "self", "token", "user", "team", "organization":
		return true
	}
	return false
}

func isUnsafe(method string) bool {
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return false
	}
	return true
}

func validCSRF(c *fiber.Ctx) bool {
	cookie, header := c.Cookies(csrfCookie), c.Get(csrfHeader)
	return cookie != "" && subtle.ConstantTimeCompare([]byte(cookie), []byte(header)) == 1
}

func (s *Server) scope(p *identity.Principal) identity.Scope {
	return identity.TicketScope(*p, identity.ScopeOptions{AgentsSeeAllTickets: s.cfg.AgentsSeeAllTickets})
}

// audit records one access attempt before the answer. A failure to write
// the audit log fails loudly in the server log; the request itself has
// already been decided.
func (s *Server) audit(c *fiber.Ctx, p *identity.Principal, action, object, result string, detail map[string]any) error {
	return s.record(c, p, action, object, result, detail, false)
}

// record is audit, except that a queued entry (guard's allowed reads) is
// only queued for the next group commit, waiting for room when the queue
// is full; the error says it could not be, and the caller must not answer.
func (s *Server) record(c *fiber.Ctx, p *identity.Principal, action, object, result string, detail map[string]any, queued bool) error {
	e := audit.Entry{
		Actor: "anonymous", Action: action, Object: object, Result: result,
		IP: s.clientIP(c), UserAgent: string(c.Request().Header.UserAgent()),
		RequestID: c.GetRespHeader(fiber.HeaderXRequestID), Detail: detail,
	}
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	e.Detail["method"] = c.Method()
	e.Detail["path"] = c.Path()
	if p != nil {
		id := p.User.ID
		e.ActorID = &id
		e.Actor = p.User.Email
		if p.Via == identity.ViaToken {
			e.Detail["via"] = "token"
			e.Detail["token_id"] = p.TokenID
		}
	}
	// The request context may be cancelled once the answer is sent.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p == nil && result == audit.ResultDenied && s.denials != nil {
		// Anyone can be denied without credentials, as often as they like:
		// such attempts are counted per minute, address and action, one
		// audit row each minute (internal/audit/denials.go), not one row
		// per attempt.
		if err := s.denials.Record(ctx, ownedEntry(e)); err != nil { // kept in a batch that may outlive a timed-out request
			s.log.Error("audit log: counting an anonymous denial failed", "action", action, "err", err)
		}
		return nil
	}
	if s.auditW == nil {
		s.log.Error("audit log not configured", "action", action, "object", object)
		return nil
	}
	if queued {
		// The entry is hashed and stored after the answer, when fasthttp
		// has reused the buffers that c.Path(), c.Method() and the
		// headers point into: it must own its strings.
		if err := s.auditW.Enqueue(ctx, ownedEntry(e)); err != nil {
			s.log.Error("audit log queue refused an entry; the read is answered 503", "action", action, "object", object, "err", err)
			return err
		}
		return nil
	}
	if _, err := s.auditW.Append(ctx, e); err != nil {
		s.log.Error("audit log append failed", "action", action, "object", object, "err", err)
	}
	return nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ownedEntry is e with every string copied out of Fiber's request and
// response buffers (Fiber hands out strings that alias them, valid only
// until the handler returns), including those inside its detail.
func ownedEntry(e audit.Entry) audit.Entry { return e.MapStrings(strings.Clone) }
