package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/localsvc"
	"github.com/helpdesk/helpdesk/internal/sso"
	"github.com/helpdesk/helpdesk/internal/sso/ssotest"
	"github.com/helpdesk/helpdesk/policies"
)

// TestSSOSignsInNewUser signs a person the help desk has never seen in
// through a real OpenID provider: the API provisions them with the role
// their groups map to and starts a session.
func TestSSOSignsInNewUser(t *testing.T) {
	ctx := context.Background()
	port, err := localsvc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	prov := ssotest.Start(base+"/api/v1/auth/sso/callback", []ssotest.User{{
		ID: "u-sam", Username: "sam", Password: "sam's password", FirstName: "Sam", LastName: "Single",
		Email: "sam.sso@example.com", Groups: []string{"staff", "helpdesk-leads"},
	}})
	defer prov.Close()
	p, err := sso.New(ctx, sso.Config{
		Issuer: prov.Issuer, ClientID: prov.ClientID, ClientSecret: prov.ClientSecret,
		RedirectURL: base + "/api/v1/auth/sso/callback", Scopes: []string{"openid", "email", "profile", "groups"},
		RoleMapping: map[string]string{"helpdesk-leads": "lead"},
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
	defer srv.Shutdown(ctx)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := browser.Get(base + "/api/v1/auth/sso/start?return_to=/")
	if err != nil {
		t.Fatal(err)
	}
	done, err := ssotest.Login(browser, res, "sam", "sam's password")
	if err != nil {
		t.Fatal(err)
	}
	done.Body.Close()
	if done.StatusCode != http.StatusOK || done.Request.URL.String() != base+"/" {
		t.Fatalf("after sign-in the browser is at %s (%d)", done.Request.URL, done.StatusCode)
	}
	me, err := browser.Get(base + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		User struct {
			Email string `json:"email"`
			Role  string `json:"role"`
		} `json:"user"`
	}
	r := response{status: me.StatusCode}
	buf := make([]byte, 4096)
	n, _ := me.Body.Read(buf)
	me.Body.Close()
	r.body = buf[:n]
	if r.status != http.StatusOK {
		t.Fatalf("/me after SSO: %d %s", r.status, r.body)
	}
	r.decode(t, &body)
	if body.User.Email != "sam.sso@example.com" || body.User.Role != "lead" {
		t.Errorf("signed in as %+v", body.User)
	}
	entries, _, err := env.audit.Find(ctx, audit.Query{Action: "auth.sso", Result: audit.ResultAllowed, Limit: 10})
	if err != nil || len(entries) == 0 {
		t.Errorf("SSO sign-in not audited: %v %v", entries, err)
	}
	// A callback without a sign-in in flight is refused.
	res, err = (&http.Client{Timeout: 10 * time.Second}).Get(base + "/api/v1/auth/sso/callback?state=x&code=y")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged callback: %d", res.StatusCode)
	}
}
