package sso

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/helpdesk/helpdesk/internal/devstack/ssotest"
)

// The tests run a real OpenID provider in-process: zitadel/oidc's op package
// (the provider half of an OpenID-certified library: its RP is certified, OP
// certification is a stated goal) with the in-memory storage and
// username/password login UI of its example server. The test storage only
// adds a "groups" scope and claim on top of the example storage.

const (
	clientID     = ssotest.ClientID
	clientSecret = ssotest.ClientSecret
	callbackPath = "/api/v1/auth/sso/callback"
	password     = "correct horse battery staple"
)

// testUsers: alice (agent and lead groups), bob (unverified email, no
// groups), root (agent and admin groups).
var testUsers = []ssotest.User{
	{ID: "u-alice", Username: "alice", Password: password, FirstName: "Alice", LastName: "Liddell",
		Email: "alice@example.com", Groups: []string{"staff", "helpdesk-agents", "helpdesk-leads"}},
	{ID: "u-bob", Username: "bob", Password: password, FirstName: "Bob", LastName: "Builder",
		Email: "bob@example.com", EmailUnverified: true},
	{ID: "u-root", Username: "root", Password: password, FirstName: "Ada", LastName: "Admin",
		Email: "root@example.com", Groups: []string{"helpdesk-agents", "it-admins"}},
}

var testRoleMapping = map[string]string{
	"helpdesk-agents": RoleAgent,
	"helpdesk-leads":  RoleLead,
	"it-admins":       RoleAdmin,
}

type env struct {
	op   *ssotest.Provider // the OpenID provider
	app  *httptest.Server  // hosts RedirectURL
	cfg  Config
	http *http.Client // the "browser"
}

func newEnv(t *testing.T) *env {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "callback reached")
	}))
	t.Cleanup(app.Close)
	redirect := app.URL + callbackPath

	opSrv := ssotest.Start(redirect, testUsers)
	t.Cleanup(opSrv.Close)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		op:  opSrv,
		app: app,
		cfg: Config{
			Issuer:       opSrv.Issuer,
			ClientID:     clientID,
			ClientSecret: clientSecret,
			RedirectURL:  redirect,
			Scopes:       []string{"openid", "email", "profile", "groups"},
			RoleMapping:  testRoleMapping,
		},
		http: &http.Client{Jar: jar, Timeout: 10 * time.Second},
	}
}

func (e *env) provider(t *testing.T) *Provider {
	t.Helper()
	p, err := New(t.Context(), e.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// login plays the browser: it follows authURL to the provider's login form,
// submits the credentials and follows redirects back to RedirectURL, whose
// state and code it returns.
func (e *env) login(t *testing.T, authURL, username string) (state, code string) {
	t.Helper()
	resp, err := e.http.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login/username" {
		t.Fatalf("authorize: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	m := hiddenID.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no auth request id in login form: %s", body)
	}
	form := url.Values{"id": {string(m[1])}, "username": {username}, "password": {password}}
	resp, err = e.http.PostForm(resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"}).String(), form)
	if err != nil {
		t.Fatalf("POST login: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	final := resp.Request.URL
	if resp.StatusCode != http.StatusOK || final.Host != strings.TrimPrefix(e.app.URL, "http://") || final.Path != callbackPath {
		t.Fatalf("login did not reach the callback: %d at %s: %s", resp.StatusCode, final, body)
	}
	q := final.Query()
	if q.Get("error") != "" {
		t.Fatalf("provider returned error: %s", final.RawQuery)
	}
	return q.Get("state"), q.Get("code")
}

func TestFullFlow(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)

	authURL, pending := p.Begin()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(pending.Verifier) ||
		q.Get("state") != pending.State || q.Get("nonce") != pending.Nonce || q.Get("client_id") != clientID ||
		q.Get("redirect_uri") != e.cfg.RedirectURL || q.Get("response_type") != "code" {
		t.Fatalf("auth URL: %s", authURL)
	}
	if !strings.HasPrefix(authURL, e.op.Issuer+"/") {
		t.Fatalf("auth URL %s not at the provider %s", authURL, e.op.Issuer)
	}

	state, code := e.login(t, authURL, "alice")
	if state != pending.State || code == "" {
		t.Fatalf("callback state %q code %q, want state %q", state, code, pending.State)
	}
	id, err := p.Finish(t.Context(), pending, state, code)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	want := Identity{
		Issuer: e.op.Issuer, Subject: "u-alice", Email: "alice@example.com", EmailVerified: true,
		Name: "Alice Liddell", Groups: []string{"staff", "helpdesk-agents", "helpdesk-leads"}, Role: RoleLead,
	}
	if id.Issuer != want.Issuer || id.Subject != want.Subject || id.Email != want.Email ||
		id.EmailVerified != want.EmailVerified || id.Name != want.Name ||
		!slices.Equal(id.Groups, want.Groups) || id.Role != want.Role {
		t.Fatalf("identity\n got %+v\nwant %+v", id, want)
	}

	// The code is single-use at the provider.
	if _, err := p.Finish(t.Context(), pending, state, code); !errors.Is(err, ErrExchange) {
		t.Fatalf("replayed code: err = %v, want ErrExchange", err)
	}
}

func TestFullFlowRoles(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)
	for _, tc := range []struct {
		user, sub, email string
		verified         bool
		role             string
		groups           []string
	}{
		{"root", "u-root", "root@example.com", true, RoleAdmin, []string{"helpdesk-agents", "it-admins"}},
		{"bob", "u-bob", "bob@example.com", false, RoleRequester, nil},
	} {
		authURL, pending := p.Begin()
		state, code := e.login(t, authURL, tc.user)
		id, err := p.Finish(t.Context(), pending, state, code)
		if err != nil {
			t.Fatalf("%s: Finish: %v", tc.user, err)
		}
		if id.Subject != tc.sub || id.Email != tc.email || id.EmailVerified != tc.verified ||
			id.Role != tc.role || !slices.Equal(id.Groups, tc.groups) {
			t.Fatalf("%s: identity %+v", tc.user, id)
		}
	}
}

func TestDefaultRoleWithoutGroupsScope(t *testing.T) {
	e := newEnv(t)
	e.cfg.Scopes = nil // default openid email profile: the provider sends no groups
	e.cfg.DefaultRole = RoleAgent
	p := e.provider(t)
	authURL, pending := p.Begin()
	if strings.Contains(authURL, "groups") {
		t.Fatalf("default scopes ask for groups: %s", authURL)
	}
	state, code := e.login(t, authURL, "alice")
	id, err := p.Finish(t.Context(), pending, state, code)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Role != RoleAgent || id.Groups != nil || id.Email != "alice@example.com" {
		t.Fatalf("identity %+v", id)
	}
}

func TestWrongPKCEVerifierRejectedByProvider(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)
	authURL, pending := p.Begin()
	state, code := e.login(t, authURL, "alice")

	bad := pending
	bad.Verifier = oauth2.GenerateVerifier()
	_, err := p.Finish(t.Context(), bad, state, code)
	if !errors.Is(err, ErrExchange) {
		t.Fatalf("err = %v, want ErrExchange", err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("err = %v, want the token endpoint's invalid_grant", err)
	}
	if !strings.HasPrefix(err.Error(), "sso: ") {
		t.Fatalf("error not prefixed: %v", err)
	}
}

func TestWrongStateRejectedBeforeExchange(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)
	authURL, pending := p.Begin()
	state, code := e.login(t, authURL, "alice")

	for _, got := range []string{"", "x", state + "x", strings.ToUpper(state)} {
		if _, err := p.Finish(t.Context(), pending, got, code); !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("state %q: err = %v, want ErrStateMismatch", got, err)
		}
	}
	other := pending
	other.State = ""
	if _, err := p.Finish(t.Context(), other, "", code); !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("empty pending state: err = %v, want ErrStateMismatch", err)
	}
	// No exchange happened: the single-use code still works.
	if _, err := p.Finish(t.Context(), pending, state, code); err != nil {
		t.Fatalf("Finish after rejected states: %v", err)
	}
}

func TestNonceMismatchRejected(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)
	authURL, pending := p.Begin()
	state, code := e.login(t, authURL, "alice")

	bad := pending
	bad.Nonce = "not-the-nonce-that-was-sent"
	_, err := p.Finish(t.Context(), bad, state, code)
	if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("err = %v, want ErrInvalidToken (nonce)", err)
	}
}

func TestExpiredIDTokenRejected(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)
	p.now = func() time.Time { return time.Now().Add(2 * time.Hour) } // ID tokens live 1 h
	authURL, pending := p.Begin()
	state, code := e.login(t, authURL, "alice")
	_, err := p.Finish(t.Context(), pending, state, code)
	var expired *oidc.TokenExpiredError
	if !errors.Is(err, ErrInvalidToken) || !errors.As(err, &expired) {
		t.Fatalf("err = %v, want ErrInvalidToken (expired)", err)
	}
}

func TestWrongAudienceRejected(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)
	p.verifier = p.oidc.Verifier(&oidc.Config{ClientID: "some-other-client"})
	authURL, pending := p.Begin()
	state, code := e.login(t, authURL, "alice")
	_, err := p.Finish(t.Context(), pending, state, code)
	if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("err = %v, want ErrInvalidToken (audience)", err)
	}
}

func TestWrongClientSecretRejected(t *testing.T) {
	e := newEnv(t)
	e.cfg.ClientSecret = "wrong"
	p := e.provider(t)
	authURL, pending := p.Begin()
	state, code := e.login(t, authURL, "alice")
	if _, err := p.Finish(t.Context(), pending, state, code); !errors.Is(err, ErrExchange) {
		t.Fatalf("err = %v, want ErrExchange", err)
	}
}

func TestNew(t *testing.T) {
	e := newEnv(t)
	bad := []Config{
		{},
		{Issuer: e.op.Issuer, ClientID: clientID},                                        // no redirect URL
		{Issuer: e.op.Issuer, ClientID: clientID, RedirectURL: "x", DefaultRole: "root"}, // unknown role
		{Issuer: e.op.Issuer, ClientID: clientID, RedirectURL: "x", RoleMapping: map[string]string{"g": "superuser"}},
		{Issuer: e.op.Issuer + "/other", ClientID: clientID, RedirectURL: "x"},                                    // discovery fails
		{Issuer: strings.Replace(e.op.Issuer, "127.0.0.1", "localhost", 1), ClientID: clientID, RedirectURL: "x"}, // issuer mismatch
	}
	for i, c := range bad {
		if _, err := New(t.Context(), c); err == nil || !strings.HasPrefix(err.Error(), "sso: ") {
			t.Errorf("config %d: err = %v, want sso: error", i, err)
		}
	}

	p, err := New(t.Context(), Config{Issuer: e.op.Issuer, ClientID: clientID, RedirectURL: e.cfg.RedirectURL, Scopes: []string{"email"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.cfg.Scopes, []string{"openid", "email"}) || p.cfg.GroupsClaim != "groups" || p.cfg.DefaultRole != RoleRequester {
		t.Fatalf("defaults: %+v", p.cfg)
	}
	a1, s1 := p.Begin()
	a2, s2 := p.Begin()
	if a1 == a2 || s1.State == s2.State || s1.Nonce == s2.Nonce || s1.Verifier == s2.Verifier ||
		len(s1.State) < 43 || len(s1.Nonce) < 43 || len(s1.Verifier) < 43 || time.Since(s1.Created) > time.Minute {
		t.Fatalf("Begin not random enough: %+v %+v", s1, s2)
	}
}

func TestRoleAndGroupsClaim(t *testing.T) {
	p := &Provider{cfg: Config{GroupsClaim: "groups", DefaultRole: RoleRequester, RoleMapping: testRoleMapping}}
	for _, tc := range []struct {
		groups []string
		want   string
	}{
		{nil, RoleRequester},
		{[]string{"staff"}, RoleRequester},
		{[]string{"helpdesk-agents"}, RoleAgent},
		{[]string{"helpdesk-leads", "helpdesk-agents"}, RoleLead},
		{[]string{"helpdesk-agents", "it-admins", "helpdesk-leads"}, RoleAdmin},
		{[]string{"IT-ADMINS"}, RoleRequester}, // group names are exact
	} {
		if got := p.Role(tc.groups); got != tc.want {
			t.Errorf("Role(%v) = %q, want %q", tc.groups, got, tc.want)
		}
	}

	claims := map[string]any{
		"groups":       []any{"a", 7, "", "b"},
		"single":       "solo",
		"realm_access": map[string]any{"roles": []any{"r1", "r2"}},
		"a.b":          []any{"literal"},
	}
	for _, tc := range []struct {
		claim string
		want  []string
		ok    bool
	}{
		{"groups", []string{"a", "b"}, true},
		{"single", []string{"solo"}, true},
		{"realm_access.roles", []string{"r1", "r2"}, true},
		{"a.b", []string{"literal"}, true},
		{"realm_access.missing", nil, false},
		{"single.x", nil, false},
		{"missing", nil, false},
	} {
		p.cfg.GroupsClaim = tc.claim
		got, ok := p.groups(claims)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("groups(%q) = %v, %v; want %v, %v", tc.claim, got, ok, tc.want, tc.ok)
		}
	}

	email, verified, name := profile(map[string]any{"email": "x@y", "email_verified": "true", "preferred_username": "xy"})
	if email != "x@y" || !verified || name != "xy" {
		t.Errorf("profile: %q %v %q", email, verified, name)
	}
}

func TestPendingCookie(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	p := Pending{State: "st", Nonce: "no", Verifier: "ve", Created: time.Now().UTC()}
	enc, err := p.Encode(key)
	if err != nil {
		t.Fatal(err)
	}
	if enc != url.QueryEscape(enc) || strings.ContainsAny(enc, ";, \"") {
		t.Fatalf("not cookie-safe: %q", enc)
	}
	got, err := DecodePending(enc, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != p.State || got.Nonce != p.Nonce || got.Verifier != p.Verifier || !got.Created.Equal(p.Created) {
		t.Fatalf("round trip: %+v vs %+v", got, p)
	}

	payload, sig, _ := strings.Cut(enc, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	mustReject := func(name, s string, k []byte, maxAge time.Duration) {
		t.Helper()
		if _, err := DecodePending(s, k, maxAge); !errors.Is(err, ErrInvalidPending) {
			t.Errorf("%s: err = %v, want ErrInvalidPending", name, err)
		}
	}
	mustReject("tampered payload", flip(payload, 3)+"."+sig, key, time.Minute)
	mustReject("tampered signature", payload+"."+flip(sig, 5), key, time.Minute)
	mustReject("truncated signature", payload+"."+sig[:len(sig)-2], key, time.Minute)
	mustReject("other key", enc, []byte("fedcba9876543210fedcba9876543210"), time.Minute)
	mustReject("no signature", payload, key, time.Minute)
	mustReject("empty", "", key, time.Minute)
	mustReject("garbage", "!!!.???", key, time.Minute)

	// A Pending whose fields were swapped for the attacker's, re-signed with
	// another key, must fail.
	forged, _ := Pending{State: "evil", Nonce: "n", Verifier: "v", Created: time.Now()}.Encode([]byte("attacker-key-attacker-key-attack"))
	mustReject("forged", forged, key, time.Minute)

	old := p
	old.Created = time.Now().Add(-11 * time.Minute)
	oldEnc, _ := old.Encode(key)
	mustReject("expired", oldEnc, key, 10*time.Minute)
	mustReject("expired, default max age", oldEnc, key, 0)
	if _, err := DecodePending(oldEnc, key, time.Hour); err != nil {
		t.Errorf("within max age: %v", err)
	}
	future := p
	future.Created = time.Now().Add(time.Hour)
	futureEnc, _ := future.Encode(key)
	mustReject("from the future", futureEnc, key, time.Minute)

	incomplete, _ := Pending{State: "s", Created: time.Now()}.Encode(key)
	mustReject("incomplete", incomplete, key, time.Minute)

	if _, err := p.Encode([]byte("short")); err == nil {
		t.Error("Encode accepted a short key")
	}
	if _, err := DecodePending(enc, []byte("short"), time.Minute); err == nil {
		t.Error("DecodePending accepted a short key")
	}
}

// TestCookieFlow checks that a Pending survives the trip through a cookie
// and that Finish accepts it.
func TestCookieFlow(t *testing.T) {
	e := newEnv(t)
	p := e.provider(t)
	key := []byte("0123456789abcdef0123456789abcdef")
	authURL, pending := p.Begin()
	enc, err := pending.Encode(key)
	if err != nil {
		t.Fatal(err)
	}
	state, code := e.login(t, authURL, "root")
	dec, err := DecodePending(enc, key, PendingMaxAge)
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Finish(t.Context(), dec, state, code)
	if err != nil || id.Role != RoleAdmin {
		t.Fatalf("Finish: %+v, %v", id, err)
	}
}
