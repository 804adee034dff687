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
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"go.temporal.io/sdk/client"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
)

// Deps are the services the API talks to.
type Deps struct {
	Config   config.Config
	Store    *store.Store
	Index    *search.Index
	Temporal client.Client
	// UI is the built web app; nil serves a hint instead.
	UI     fs.FS
	Logger *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	app      *fiber.App
	cfg      config.Config
	store    *store.Store
	index    *search.Index
	temporal client.Client
	log      *slog.Logger
}

// New builds the API with every route.
func New(d Deps) *Server {
	s := &Server{cfg: d.Config, store: d.Store, index: d.Index, temporal: d.Temporal, log: d.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.app = fiber.New(fiber.Config{
		AppName: "helpdesk",
		// Fiber (fasthttp) refuses an oversized body before reading it and
		// closes the connection, so a client still sending sees a reset
		// instead of the 413. Reading up to twice the limit lets the
		// middleware below answer properly; only larger bodies are cut off.
		BodyLimit:             2*d.Config.MaxBodyBytes + 64<<10,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	s.app.Use(recover.New())
	s.app.Use(requestid.New())
	s.app.Use(func(c *fiber.Ctx) error {
		if len(c.Body()) > s.cfg.MaxBodyBytes {
			return fiber.ErrRequestEntityTooLarge
		}
		return c.Next()
	})
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)

	v1 := s.app.Group("/api/v1")
	v1.Post("/tickets", s.createTicket)
	v1.Get("/tickets", s.listTickets)
	v1.Get("/tickets/:id", s.getTicket)
	v1.All("/*", func(c *fiber.Ctx) error { return fiber.ErrNotFound })

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
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Serve serves on an open listener until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz checks every service a request may need.
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
	}
	return c.Status(status).JSON(fiber.Map{"ready": ok, "checks": checks})
}
