// Package api is helpdesk's HTTP API (Fiber) and the host of the built web
// UI. Handlers validate input, then act on a ticket only through its
// workflow, and read tickets from PostgreSQL.
package api

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"go.temporal.io/sdk/client"

	"github.com/casbin/casbin/v2"

	"github.com/helpdesk/helpdesk/intake"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/pgbus"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/sso"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

// Deps are the services the API talks to.
type Deps struct {
	Config   config.Config
	Store    *store.Store
	Index    *search.Index
	Temporal client.Client
	Identity *identity.Service
	Audit    *audit.Log
	Enforcer casbin.IEnforcer
	// SSO is the OpenID provider; nil when single sign-on is off.
	SSO *sso.Provider
	// SSOKey signs the short-lived cookie that carries a sign-in in flight.
	SSOKey []byte
	// UI is the built web app; nil serves a hint instead.
	UI     fs.FS
	Logger *slog.Logger
	// Bus is the process's LISTEN/NOTIFY connection. With it (and
	// principal_cache_ttl > 0) tokens and sessions are answered from a
	// cache that the database's change notices keep true; nil looks every
	// credential up.
	Bus *pgbus.Bus
}

// Server is the HTTP API.
type Server struct {
	app *fiber.App
	cfg config.Config
	// policy is what new tickets' workflows decide with.
	policy   workflows.Policy
	store    *store.Store
	index    *search.Index
	temporal client.Client
	ident    *identity.Service
	auditLog *audit.Log
	auditW   *audit.Writer
	// denials counts anonymous denied attempts (see Server.audit).
	denials  *audit.Denials
	enforcer casbin.IEnforcer
	sso      *sso.Provider
	ssoKey   []byte
	routes   []Route
	log      *slog.Logger
	// principals resolves credentials: the identity service, or the
	// cache in front of it (principalCache, closed on Shutdown).
	principals     principalSource
	principalCache *identity.PrincipalCache
	// mail processes released quarantine entries as the intake would.
	mail *intake.Processor

	// rules are the routes with options, for what runs before routing.
	rules []routeRule
	// trustedProxies are the parsed trusted_proxies (see clientIP).
	trustedProxies []netip.Prefix
}

// flows is the ticket workflows' client (workflows.Client).
func (s *Server) flows() workflows.Client {
	return workflows.Client{Temporal: s.temporal, TaskQueue: s.cfg.TaskQueue, Policy: &s.policy}
}

// New builds the API with every route.
func New(d Deps) *Server {
	s := &Server{cfg: d.Config, store: d.Store, index: d.Index, temporal: d.Temporal,
		ident: d.Identity, auditLog: d.Audit, enforcer: d.Enforcer, sso: d.SSO, ssoKey: d.SSOKey, log: d.Logger}
	s.policy = worker.PolicyFromConfig(d.Config)
	if d.Audit != nil {
		s.auditW = d.Audit.NewWriter()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if d.Audit != nil {
		s.denials = d.Audit.NewDenials(s.log)
	}
	s.principals = d.Identity
	if d.Bus != nil && d.Config.PrincipalCacheTTL > 0 {
		cache, err := identity.NewPrincipalCache(d.Identity, d.Bus, identity.PrincipalCacheOptions{TTL: d.Config.PrincipalCacheTTL.D(), Logger: s.log})
		if err != nil {
			s.log.Error("principal cache off: every request looks its credential up", "err", err)
		} else {
			s.principals, s.principalCache = cache, cache
		}
	}
	s.mail = intake.NewProcessor(d.Store, d.Identity, d.Temporal, d.Config, s.log)
	if tp, err := config.ParseTrustedProxies(d.Config.TrustedProxies); err != nil {
		// Load validated it; a hand-built config that did not pass gets
		// the safe default: forwarding headers are ignored.
		s.log.Error("trusted_proxies ignored", "err", err)
	} else {
		s.trustedProxies = tp
	}
	s.app = fiber.New(fiber.Config{
		AppName: "helpdesk",
		// Each request's body limit is set from its headers (headerReceived,
		// api/limits.go); this is only fasthttp's fallback.
		BodyLimit:    attachmentBodyLimit(d.Config.MaxAttachmentBytes),
		ErrorHandler: s.answerError,
		// fasthttp would otherwise parse a multipart body into a form (files
		// over 16 MiB into temporary files) and Ctx.Body() would build it
		// again: an upload must stay the one buffer it was read into.
		DisablePreParseMultipartForm: true,
		DisableStartupMessage:        true,
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 60 * time.Second,
		IdleTimeout:                  2 * time.Minute,
	})
	s.app.Server().HeaderReceived = s.headerReceived
	s.app.Use(recover.New())
	s.app.Use(requestid.New())
	s.app.Use(securityHeaders)
	s.app.Use(s.refuseEncodedBodies)
	s.app.Use(s.deadline)
	s.handle(fiber.MethodGet, "/healthz", nil, s.healthz)
	s.handle(fiber.MethodGet, "/readyz", nil, s.readyz)

	const v1 = "/api/v1"
	s.handle(fiber.MethodPost, v1+"/auth/login", nil, s.login)
	s.handle(fiber.MethodGet, v1+"/auth/providers", nil, s.providers)
	s.handle(fiber.MethodGet, v1+"/auth/sso/start", nil, s.ssoStart)
	s.handle(fiber.MethodGet, v1+"/auth/sso/callback", nil, s.ssoCallback)
	s.handle(fiber.MethodPost, v1+"/auth/logout", &access{object: "self", action: "read"}, s.logout)
	s.handle(fiber.MethodGet, v1+"/me", &access{object: "self", action: "read"}, s.me)
	s.handle(fiber.MethodPatch, v1+"/me", &access{object: "self", action: "update", scope: identity.ScopeAdmin}, s.updateMe)
	s.handle(fiber.MethodPost, v1+"/tokens", &access{object: "token", action: "manage"}, s.createToken)
	s.handle(fiber.MethodGet, v1+"/tokens", &access{object: "token", action: "manage", scope: identity.ScopeAdmin}, s.listTokens)
	s.handle(fiber.MethodDelete, v1+"/tokens/:id", &access{object: "token", action: "manage", scope: identity.ScopeAdmin}, s.revokeToken)
	s.handle(fiber.MethodGet, v1+"/users", &access{object: "user", action: "list", scope: identity.ScopeAdmin}, s.listUsers)
	s.handle(fiber.MethodPost, v1+"/users", &access{object: "user", action: "create", scope: identity.ScopeAdmin}, s.createUser)
	s.handle(fiber.MethodGet, v1+"/teams", &access{object: "team", action: "list", scope: identity.ScopeTicketsRead}, s.listTeams)
	s.handle(fiber.MethodPost, v1+"/teams", &access{object: "team", action: "create", scope: identity.ScopeAdmin}, s.createTeam)
	s.handle(fiber.MethodGet, v1+"/organizations", &access{object: "organization", action: "list", scope: identity.ScopeAdmin}, s.listOrganizations)
	s.handle(fiber.MethodPost, v1+"/organizations", &access{object: "organization", action: "create", scope: identity.ScopeAdmin}, s.createOrganization)
	s.handle(fiber.MethodGet, v1+"/audit-log", &access{object: "audit_log", action: "read", scope: identity.ScopeAdmin}, s.auditLogEntries)
	s.handle(fiber.MethodGet, v1+"/audit-log/verify", &access{object: "audit_log", action: "read", scope: identity.ScopeAdmin}, s.verifyAuditLog)
	s.handle(fiber.MethodPost, v1+"/tickets", &access{object: "ticket", action: "create", scope: identity.ScopeTicketsWrite}, s.createTicket)
	s.handle(fiber.MethodGet, v1+"/tickets", &access{object: "ticket", action: "list", scope: identity.ScopeTicketsRead}, s.listTickets)
	s.handle(fiber.MethodGet, v1+"/tickets/search", &access{object: "ticket", action: "list", scope: identity.ScopeTicketsRead}, s.searchTickets)
	s.handleWith(fiber.MethodGet, v1+"/tickets/export", &access{object: "ticket", action: "export", scope: identity.ScopeTicketsRead}, routeOptions{long: true}, s.exportTickets)
	s.handle(fiber.MethodGet, v1+"/tickets/:id", &access{object: "ticket", action: "read", scope: identity.ScopeTicketsRead, ticket: true}, s.getTicket)
	s.handle(fiber.MethodPatch, v1+"/tickets/:id", &access{object: "ticket", action: "update", scope: identity.ScopeTicketsWrite, ticket: true}, s.changeTicket)
	s.handle(fiber.MethodPost, v1+"/tickets/:id/comments", &access{object: "ticket", action: "comment", scope: identity.ScopeTicketsWrite, ticket: true}, s.addComment)
	s.handle(fiber.MethodPost, v1+"/tickets/:id/reopen", &access{object: "ticket", action: "reopen", scope: identity.ScopeTicketsWrite, ticket: true}, s.reopenTicket)
	s.handle(fiber.MethodGet, v1+"/tickets/:id/history", &access{object: "ticket", action: "read", scope: identity.ScopeTicketsRead, ticket: true}, s.ticketHistory)
	s.handle(fiber.MethodPost, v1+"/queue/next", &access{object: "ticket", action: "claim", scope: identity.ScopeTicketsWrite}, s.claimNext)
	s.handleWith(fiber.MethodPost, v1+"/tickets/:id/attachments", &access{object: "attachment", action: "create", scope: identity.ScopeTicketsWrite, ticket: true}, routeOptions{upload: true}, s.createAttachment)
	s.handle(fiber.MethodGet, v1+"/tickets/:id/attachments", &access{object: "attachment", action: "read", scope: identity.ScopeTicketsRead, ticket: true}, s.listAttachments)
	s.handle(fiber.MethodGet, v1+"/tickets/:id/attachments/:aid", &access{object: "attachment", action: "read", scope: identity.ScopeTicketsRead, ticket: true}, s.getAttachment)
	s.handle(fiber.MethodGet, v1+"/categories", &access{object: "category", action: "list", scope: identity.ScopeTicketsRead}, s.listCategories)
	s.handle(fiber.MethodPost, v1+"/categories", &access{object: "category", action: "manage", scope: identity.ScopeAdmin}, s.createCategory)
	s.handle(fiber.MethodPatch, v1+"/categories/:id", &access{object: "category", action: "manage", scope: identity.ScopeAdmin}, s.updateCategory)
	s.handle(fiber.MethodGet, v1+"/custom-fields", &access{object: "custom_field", action: "list", scope: identity.ScopeTicketsRead}, s.listCustomFields)
	s.handle(fiber.MethodPost, v1+"/custom-fields", &access{object: "custom_field", action: "manage", scope: identity.ScopeAdmin}, s.createCustomField)
	s.handle(fiber.MethodPatch, v1+"/custom-fields/:id", &access{object: "custom_field", action: "manage", scope: identity.ScopeAdmin}, s.updateCustomField)
	s.handle(fiber.MethodGet, v1+"/rules", &access{object: "rule", action: "list", scope: identity.ScopeAdmin}, s.listRules)
	s.handle(fiber.MethodPost, v1+"/rules", &access{object: "rule", action: "create", scope: identity.ScopeAdmin}, s.createRule)
	s.handle(fiber.MethodGet, v1+"/rules/:id", &access{object: "rule", action: "read", scope: identity.ScopeAdmin}, s.getRule)
	s.handle(fiber.MethodPatch, v1+"/rules/:id", &access{object: "rule", action: "update", scope: identity.ScopeAdmin}, s.updateRule)
	s.handle(fiber.MethodDelete, v1+"/rules/:id", &access{object: "rule", action: "delete", scope: identity.ScopeAdmin}, s.deleteRule)
	s.handle(fiber.MethodGet, v1+"/agents", &access{object: "agent", action: "list", scope: identity.ScopeTicketsRead}, s.listAgents)
	s.handle(fiber.MethodPatch, v1+"/agents/:id", &access{object: "agent", action: "update", scope: identity.ScopeTicketsWrite}, s.updateAgent)
	s.handle(fiber.MethodPost, v1+"/agents/:id/reroute", &access{object: "agent", action: "update", scope: identity.ScopeTicketsWrite}, s.rerouteAgent)
	s.handle(fiber.MethodGet, v1+"/quarantine", &access{object: "mail", action: "quarantine", scope: identity.ScopeAdmin}, s.listQuarantine)
	s.handle(fiber.MethodGet, v1+"/quarantine/:id", &access{object: "mail", action: "quarantine", scope: identity.ScopeAdmin}, s.getQuarantine)
	s.handle(fiber.MethodGet, v1+"/quarantine/:id/raw", &access{object: "mail", action: "quarantine", scope: identity.ScopeAdmin}, s.getQuarantineRaw)
	s.handle(fiber.MethodPost, v1+"/quarantine/:id/release", &access{object: "mail", action: "quarantine", scope: identity.ScopeAdmin}, s.releaseQuarantine)
	s.handle(fiber.MethodGet, v1+"/tickets/:id/mail", &access{object: "mail", action: "read", scope: identity.ScopeTicketsRead, ticket: true}, s.ticketMail)
	s.handle(fiber.MethodGet, v1+"/tickets/:id/mail/:mid/raw", &access{object: "mail", action: "read", scope: identity.ScopeTicketsRead, ticket: true}, s.ticketMailRaw)
	// Saved views (issue 20, api/savedviews.go).
	s.handle(fiber.MethodGet, v1+"/views", &access{object: "view", action: "list", scope: identity.ScopeTicketsRead}, s.listViews)
	s.handle(fiber.MethodPost, v1+"/views", &access{object: "view", action: "create", scope: identity.ScopeTicketsWrite}, s.createView)
	s.handle(fiber.MethodGet, v1+"/views/:id", &access{object: "view", action: "read", scope: identity.ScopeTicketsRead}, s.getView)
	s.handle(fiber.MethodPatch, v1+"/views/:id", &access{object: "view", action: "update", scope: identity.ScopeTicketsWrite}, s.updateView)
	s.handle(fiber.MethodDelete, v1+"/views/:id", &access{object: "view", action: "delete", scope: identity.ScopeTicketsWrite}, s.deleteView)
	// Bulk actions (docs/bulk.md): jobs are the caller's own (admins see
	// every job); each ticket is checked as the job reaches it.
	s.handle(fiber.MethodPost, v1+"/bulk", &access{object: "ticket", action: "bulk_update", scope: identity.ScopeTicketsWrite}, s.createBulk)
	s.handle(fiber.MethodGet, v1+"/bulk", &access{object: "ticket", action: "bulk_update", scope: identity.ScopeTicketsRead}, s.listBulk)
	s.handle(fiber.MethodGet, v1+"/bulk/:id", &access{object: "ticket", action: "bulk_update", scope: identity.ScopeTicketsRead}, s.getBulk)
	s.handle(fiber.MethodPost, v1+"/bulk/:id/cancel", &access{object: "ticket", action: "bulk_update", scope: identity.ScopeTicketsWrite}, s.cancelBulk)
	s.app.All(v1+"/*", func(c *fiber.Ctx) error { return fiber.ErrNotFound })

	if d.UI != nil {
		s.app.Use("/", filesystem.New(filesystem.Config{
			Root:         http.FS(d.UI),
			Index:        "index.html",
			NotFoundFile: "index.html", // client-side routes
		}))
	} else {
		s.app.Get("/", func(c *fiber.Ctx) error {
			return c.Type("txt").SendString("helpdesk API is running; the web UI was not built into this binary (run `make web`).\n")
		})
	}
	return s
}

// App exposes the Fiber app (tests use App().Test).
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve serves on an open listener until Shutdown. A connection closed
// after a 413 first drains what the client still sends (api/limits.go).
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(&lingerListener{Listener: ln}) }

// Shutdown stops accepting requests, waits for those in flight, then
// flushes the audit writer and the anonymous denial counts.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.app.ShutdownWithContext(ctx)
	if s.auditW != nil {
		s.auditW.Close()
	}
	if s.denials != nil {
		s.denials.Close()
	}
	if s.principalCache != nil {
		s.principalCache.Close()
	}
	return err
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz checks every service a request may need. Anyone learns whether
// the API is ready; which check failed and why (backend errors name hosts
// and database users) is for an admin caller and the log.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	check := func(name string, err error) {
		if err != nil {
			ok = false
			checks[name] = err.Error()
			return
		}
		checks[name] = "ok"
	}
	_, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	check("temporal", err)
	check("postgres", s.store.Ping(ctx))
	check("elasticsearch", s.index.Ping(ctx))
	status := fiber.StatusOK
	if !ok {
		status = fiber.StatusServiceUnavailable
		c.Set(fiber.HeaderRetryAfter, "5")
		s.log.Warn("not ready", "checks", checks)
	}
	if p, err := s.authenticate(c); err == nil && p != nil && p.User.Role == identity.RoleAdmin && p.HasScope(identity.ScopeAdmin) {
		return c.Status(status).JSON(fiber.Map{"ready": ok, "checks": checks})
	}
	return c.Status(status).JSON(fiber.Map{"ready": ok})
}
