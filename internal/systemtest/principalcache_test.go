package systemtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/api"
	"github.com/helpdesk/helpdesk/internal/pgbus"
	"github.com/helpdesk/helpdesk/policies"
)

// cachedAPI starts another API process's worth of server on the shared
// services: its own LISTEN connection and principal cache. It returns the
// base URL once the bus listens (so credentials are served from memory).
func cachedAPI(t *testing.T) string {
	t.Helper()
	bus, err := pgbus.New(env.cfg.DatabaseURL, pgbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	enforcer, err := policies.NewEnforcer()
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Config: env.cfg, Store: env.store, Index: env.index, Temporal: env.temporal,
		Identity: env.ident, Audit: env.audit, Enforcer: enforcer, Bus: bus})
	addr, err := listenAndServe(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Shutdown(t.Context())
		bus.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for !bus.Live() {
		if time.Now().After(deadline) {
			t.Fatal("the bus never listened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "http://" + addr
}

// asSession calls base with a session cookie (and its CSRF token on
// unsafe methods) and returns the status.
func asSession(t *testing.T, base, method, path, session, csrf string) int {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", sessionCookieName+"="+session+"; "+csrfCookieName+"="+csrf)
	req.Header.Set("X-CSRF-Token", csrf)
	res, err := env.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Two API processes with principal caches: a session both have cached is
// signed out through one. That one refuses it on the very next request;
// the other refuses it as soon as the database's notice arrives, long
// before its cache entry would age out.
func TestSignOutIsRefusedByEveryAPIProcess(t *testing.T) {
	a, b := cachedAPI(t), cachedAPI(t)
	res, err := env.http.Post(a+"/api/v1/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"email":"agent@example.com","password":%q}`, testPassword)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session, csrf string
	for _, c := range res.Cookies() {
		switch c.Name {
		case sessionCookieName:
			session = c.Value
		case csrfCookieName:
			csrf = c.Value
		}
	}
	if res.StatusCode != http.StatusOK || session == "" || csrf == "" {
		t.Fatalf("login: %d, session %q, csrf %q", res.StatusCode, session, csrf)
	}
	for _, base := range []string{a, b, a, b} { // the second round is served from memory
		if got := asSession(t, base, "GET", "/api/v1/me", session, csrf); got != http.StatusOK {
			t.Fatalf("GET /me on %s before sign-out: %d", base, got)
		}
	}
	if got := asSession(t, a, "POST", "/api/v1/auth/logout", session, csrf); got != http.StatusNoContent {
		t.Fatalf("logout: %d", got)
	}
	if got := asSession(t, a, "GET", "/api/v1/me", session, csrf); got != http.StatusUnauthorized {
		t.Errorf("the process that signed out still accepts the session: %d", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for asSession(t, b, "GET", "/api/v1/me", session, csrf) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the other process still accepts the signed-out session")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
