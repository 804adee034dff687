package api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/sso"
)

const (
	ssoCookie     = "helpdesk_sso"
	ssoReturnKey  = "helpdesk_sso_return"
	ssoCookiePath = "/api/v1/auth/sso"
	ssoMaxAge     = 10 * time.Minute
)

// ssoStart sends the browser to the OpenID provider. State, nonce and the
// PKCE verifier travel in a signed, HttpOnly, ten-minute cookie.
func (s *Server) ssoStart(c *fiber.Ctx) error {
	if s.sso == nil {
		return notFound("single sign-on is not configured")
	}
	authURL, pending := s.sso.Begin()
	enc, err := pending.Encode(s.ssoKey)
	if err != nil {
		return err
	}
	secure := c.Protocol() == "https"
	c.Cookie(&fiber.Cookie{Name: ssoCookie, Value: enc, Path: ssoCookiePath, MaxAge: int(ssoMaxAge.Seconds()),
		HTTPOnly: true, Secure: secure, SameSite: fiber.CookieSameSiteLaxMode})
	c.Cookie(&fiber.Cookie{Name: ssoReturnKey, Value: localPath(c.Query("return_to")), Path: ssoCookiePath,
		MaxAge: int(ssoMaxAge.Seconds()), HTTPOnly: true, Secure: secure, SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect(authURL, fiber.StatusFound)
}

// typeSSOEmailUnverified: single sign-on offered an unverified email that
// belongs to an existing account.
const typeSSOEmailUnverified = "/problems/sso-email-unverified"

// ssoCallback finishes the code flow, provisions or links the user
// (identity.UpsertOIDCUser: an existing account only for a verified email,
// never lowering a role set by hand) and starts a fresh session. The
// sign-in in flight is single use: its cookies are cleared whatever the
// outcome, so a failed callback cannot be retried with them.
func (s *Server) ssoCallback(c *fiber.Ctx) error {
	if s.sso == nil {
		return notFound("single sign-on is not configured")
	}
	ctx := c.UserContext()
	rawPending, returnTo := c.Cookies(ssoCookie), c.Cookies(ssoReturnKey)
	for _, name := range []string{ssoCookie, ssoReturnKey} {
		c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: ssoCookiePath, MaxAge: -1, Expires: time.Unix(0, 0), HTTPOnly: true,
			Secure: c.Protocol() == "https", SameSite: fiber.CookieSameSiteLaxMode})
	}
	pending, err := sso.DecodePending(rawPending, s.ssoKey, ssoMaxAge)
	if err != nil {
		s.audit(c, nil, "auth.sso", "", audit.ResultDenied, map[string]any{"reason": "no valid sign-in in flight"})
		return &Problem{Type: typeUnauthenticated, Title: "Unauthenticated", Status: fiber.StatusUnauthorized,
			Detail: "the single sign-on attempt expired or did not start here; start again"}
	}
	if e := c.Query("error"); e != "" {
		s.audit(c, nil, "auth.sso", "", audit.ResultDenied, map[string]any{"reason": "provider error", "error": e})
		return &Problem{Type: typeUnauthenticated, Title: "Unauthenticated", Status: fiber.StatusUnauthorized,
			Detail: "the identity provider refused the sign-in: " + e}
	}
	who, err := s.sso.Finish(ctx, pending, c.Query("state"), c.Query("code"))
	if err != nil {
		s.audit(c, nil, "auth.sso", "", audit.ResultDenied, map[string]any{"reason": err.Error()})
		return &Problem{Type: typeUnauthenticated, Title: "Unauthenticated", Status: fiber.StatusUnauthorized,
			Detail: "single sign-on failed; start again"}
	}
	role, err := identity.ParseRole(who.Role)
	if err != nil {
		return err
	}
	u, err := s.ident.UpsertOIDCUser(ctx, identity.OIDCLogin{Issuer: who.Issuer, Subject: who.Subject,
		Email: who.Email, EmailVerified: who.EmailVerified, Name: who.Name, Role: role})
	switch {
	case errors.Is(err, identity.ErrEmailNotVerified):
		s.audit(c, nil, "auth.sso", "user:"+who.Email, audit.ResultDenied, map[string]any{"reason": "email not verified", "issuer": who.Issuer})
		return &Problem{Type: typeSSOEmailUnverified, Title: "Email address not verified", Status: fiber.StatusForbidden,
			Detail: fmt.Sprintf("the identity provider has not verified the email address %s, which an existing help desk account uses, "+
				"so this sign-in was not linked to that account; verify the address at the identity provider, then sign in again", who.Email)}
	case errors.Is(err, identity.ErrConflict):
		s.audit(c, nil, "auth.sso", "user:"+who.Email, audit.ResultDenied, map[string]any{"reason": "linked to another identity", "issuer": who.Issuer})
		return &Problem{Type: typeConflict, Title: "Conflict", Status: fiber.StatusConflict,
			Detail: fmt.Sprintf("the help desk account for %s is linked to another single sign-on identity", who.Email)}
	case err != nil:
		return identityProblem(err)
	}
	if old := c.Cookies(sessionCookie); old != "" {
		_ = s.ident.RevokeSession(ctx, old)
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	p := &identity.Principal{User: u, Via: identity.ViaSession}
	s.audit(c, p, "auth.sso", fmt.Sprintf("user:%d", u.ID), audit.ResultAllowed, map[string]any{"issuer": who.Issuer, "role_source": u.RoleSource})
	return c.Redirect(localPath(returnTo), fiber.StatusFound)
}

// localPath keeps redirects on this site: only absolute paths, never
// "//host" or a URL.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	return p
}
