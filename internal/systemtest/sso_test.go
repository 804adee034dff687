package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/ssotest"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/sso"
	"github.com/helpdesk/helpdesk/policies"
)

// ssoSite is an API with single sign-on through a real OpenID provider.
type ssoSite struct {
	base string
}

// startSSO runs an OpenID provider with users and an API that signs in
// through it, mapping groups by mapping; both stop when the test ends.
func startSSO(t *testing.T, users []ssotest.User, mapping map[string]string) ssoSite {
	t.Helper()
	ctx := context.Background()
	port, err := localsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	prov := ssotest.Start(base+"/api/v1/auth/sso/callback", users)
	t.Cleanup(prov.Close)
	p, err := sso.New(ctx, sso.Config{
		Issuer: prov.Issuer, ClientID: prov.ClientID, ClientSecret: prov.ClientSecret,
		RedirectURL: base + "/api/v1/auth/sso/callback", Scopes: []string{"openid", "email", "profile", "groups"},
		RoleMapping: mapping,
	})
	if err != nil {
		t.Fatal(err)
	}
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Config: env.cfg, Store: env.store, Index: env.index, Temporal: env.temporal,
		Identity: env.ident, Audit: env.audit, Enforcer: enforcer, SSO: p, SSOKey: []byte("0123456789abcdef0123456789abcdef")})
	if err := listenAt(srv, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return ssoSite{base: base}
}

// signIn plays a browser signing in as username at the provider and
// returns the browser and the response it ends on.
func (s ssoSite) signIn(t *testing.T, username, password string) (*http.Client, response) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := browser.Get(s.base + "/api/v1/auth/sso/start?return_to=/")
	if err != nil {
		t.Fatal(err)
	}
	done, err := ssotest.Login(browser, res, username, password)
	if err != nil {
		t.Fatal(err)
	}
	defer done.Body.Close()
	body, _ := io.ReadAll(done.Body)
	return browser, response{status: done.StatusCode, header: done.Header, body: body}
}

// pendingCookie is the browser's sign-in-in-flight cookie, "" when gone.
func (s ssoSite) pendingCookie(browser *http.Client) string {
	u, _ := url.Parse(s.base + "/api/v1/auth/sso/callback")
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == "helpdesk_sso" {
			return c.Value
		}
	}
	return ""
}

// me returns who the browser is signed in as, with the status of /me.
func (s ssoSite) me(t *testing.T, browser *http.Client) (identity.User, int) {
	t.Helper()
	res, err := browser.Get(s.base + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		User identity.User `json:"user"`
	}
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
	}
	return body.User, res.StatusCode
}

// TestSSOSignsInNewUser signs a person the help desk has never seen in
// through a real OpenID provider: the API provisions them with the role
// their groups map to and starts a session.
func TestSSOSignsInNewUser(t *testing.T) {
	site := startSSO(t, []ssotest.User{{
		ID: "u-sam", Username: "sam", Password: "sam's password", FirstName: "Sam", LastName: "Single",
		Email: "sam.sso@example.com", Groups: []string{"staff", "helpdesk-leads"},
	}}, map[string]string{"helpdesk-leads": "lead"})
	browser, done := site.signIn(t, "sam", "sam's password")
	if done.status != http.StatusOK {
		t.Fatalf("after sign-in the browser got %d %.300s", done.status, done.body)
	}
	u, status := site.me(t, browser)
	if status != http.StatusOK || u.Email != "sam.sso@example.com" || u.Role != identity.RoleLead || u.RoleSource != identity.RoleSourceSSO {
		t.Errorf("signed in as %+v (%d)", u, status)
	}
	if site.pendingCookie(browser) != "" {
		t.Error("the sign-in cookie outlived the sign-in")
	}
	entries, _, err := env.audit.Find(context.Background(), audit.Query{Action: "auth.sso", Result: audit.ResultAllowed, Limit: 10})
	if err != nil || len(entries) == 0 {
		t.Errorf("SSO sign-in not audited: %v %v", entries, err)
	}
	// A callback without a sign-in in flight is refused.
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(site.base + "/api/v1/auth/sso/callback?state=x&code=y")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged callback: %d", res.StatusCode)
	}
}

// The attack: an identity provider account with an unverified email equal
// to a local admin's signed in as that admin. It is refused with a problem
// that says why, the account is not linked, and no session starts.
func TestSSOUnverifiedEmailDoesNotTakeOverAccount(t *testing.T) {
	ctx := context.Background()
	victim, err := env.ident.CreateUser(ctx, identity.NewUser{Email: "sso-victim@example.com", Name: "Victim", Role: identity.RoleAdmin, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	site := startSSO(t, []ssotest.User{{
		ID: "u-mallory", Username: "mallory", Password: "mallory's password", FirstName: "Mal", LastName: "Lory",
		Email: "sso-victim@example.com", EmailUnverified: true,
	}}, nil)
	browser, done := site.signIn(t, "mallory", "mallory's password")
	var p problem
	done.decode(t, &p)
	if done.status != http.StatusForbidden || p.Type != "/problems/sso-email-unverified" {
		t.Fatalf("unverified email of an existing account: %d %s", done.status, done.body)
	}
	if _, status := site.me(t, browser); status != http.StatusUnauthorized {
		t.Errorf("after the refused sign-in /me answers %d", status)
	}
	if site.pendingCookie(browser) != "" {
		t.Error("the refused callback left the sign-in cookie in place")
	}
	var subject *string
	var role string
	if err := env.store.Pool().QueryRow(ctx, `SELECT oidc_subject, role FROM users WHERE id = $1`, victim.ID).Scan(&subject, &role); err != nil {
		t.Fatal(err)
	}
	if subject != nil || role != string(identity.RoleAdmin) {
		t.Errorf("the victim's account is linked to %v with role %s", subject, role)
	}
}

// The attack: every SSO sign-in re-set the role from the groups, so a
// local admin signing in through SSO (no mapped group) was demoted to
// requester. A role set by hand is never lowered; SSO may raise one.
func TestSSOKeepsRoleSetByHand(t *testing.T) {
	ctx := context.Background()
	for _, u := range []identity.NewUser{
		{Email: "sso-admin@example.com", Name: "Local admin", Role: identity.RoleAdmin, Password: testPassword},
		{Email: "sso-agent@example.com", Name: "Local agent", Role: identity.RoleAgent, Password: testPassword},
	} {
		if _, err := env.ident.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	site := startSSO(t, []ssotest.User{
		{ID: "u-ada", Username: "ada", Password: "ada's password", FirstName: "Ada", LastName: "Admin", Email: "sso-admin@example.com"},
		{ID: "u-al", Username: "al", Password: "al's password", FirstName: "Al", LastName: "Agent", Email: "sso-agent@example.com",
			Groups: []string{"helpdesk-leads"}},
	}, map[string]string{"helpdesk-leads": "lead"})
	for _, tc := range []struct {
		username, password string
		role               identity.Role
		source             string
	}{
		{"ada", "ada's password", identity.RoleAdmin, identity.RoleSourceManual},
		{"al", "al's password", identity.RoleLead, identity.RoleSourceSSO},
	} {
		browser, done := site.signIn(t, tc.username, tc.password)
		if done.status != http.StatusOK {
			t.Fatalf("%s: %d %.300s", tc.username, done.status, done.body)
		}
		if u, status := site.me(t, browser); status != http.StatusOK || u.Role != tc.role || u.RoleSource != tc.source {
			t.Errorf("%s signed in as %+v (%d), want %s from %s", tc.username, u, status, tc.role, tc.source)
		}
	}
}

// A callback that fails clears the sign-in in flight: the browser cannot
// retry it with the same state.
func TestSSOFailedCallbackClearsPending(t *testing.T) {
	site := startSSO(t, []ssotest.User{{ID: "u-pat", Username: "pat", Password: "pat's password", Email: "pat.sso@example.com"}}, nil)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.Get(site.base + "/api/v1/auth/sso/start")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || site.pendingCookie(browser) == "" {
		t.Fatalf("start: %d, Location %q, pending cookie %q", res.StatusCode, res.Header.Get("Location"), site.pendingCookie(browser))
	}
	state := loc.Query().Get("state")
	// The provider sends the browser back with an error.
	res, err = browser.Get(site.base + "/api/v1/auth/sso/callback?error=access_denied&state=" + url.QueryEscape(state))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("callback with error: %d", res.StatusCode)
	}
	if site.pendingCookie(browser) != "" {
		t.Fatal("the failed callback left the sign-in cookie in place")
	}
	// Replaying the callback finds no sign-in in flight.
	res, err = browser.Get(site.base + "/api/v1/auth/sso/callback?code=x&state=" + url.QueryEscape(state))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p problem
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || res.StatusCode != http.StatusUnauthorized ||
		p.Detail != "the single sign-on attempt expired or did not start here; start again" {
		t.Errorf("replayed callback: %d %+v %v", res.StatusCode, p, err)
	}
}
