package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The web UI is one built page that loads its script and stylesheet from
// /assets and talks only to this origin (web/index.html has no inline
// script or style; React sets styles through the DOM, which CSP does not
// govern). Nothing may frame it.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// apiCSP: an API answer is data, never a page.
const apiCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// securityHeaders sets the framing and sniffing headers on every answer.
// They are set before the handler runs, so a route that needs a stricter
// policy (attachment downloads) replaces them.
func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

func setSecurityHeaders(c *fiber.Ctx) {
	csp := uiCSP
	if p := strings.ToLower(c.Path()); p == "/api" || strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" {
		csp = apiCSP
	}
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
}

// answerError is Fiber's error handler. Errors fasthttp raises before any
// middleware ran (a body over its limit, a malformed request) get the
// security headers here.
func (s *Server) answerError(c *fiber.Ctx, err error) error {
	if len(c.Response().Header.Peek(fiber.HeaderContentSecurityPolicy)) == 0 {
		setSecurityHeaders(c)
	}
	return s.errorHandler(c, err)
}
