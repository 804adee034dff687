package systemtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// session is a signed-in browser: cookies plus the CSRF token it echoes.
type session struct {
	client *http.Client
	csrf   string
	email  string
}

func login(t *testing.T, email, password string) *session {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &session{client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, email: email}
	res := s.do(t, "POST", "/api/v1/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	if res.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, res.status, res.body)
	}
	s.csrf = s.cookie(csrfCookieName)
	if s.csrf == "" || s.cookie(sessionCookieName) == "" {
		t.Fatalf("login %s set no session or csrf cookie", email)
	}
	return s
}

const (
	sessionCookieName = "helpdesk_session"
	csrfCookieName    = "csrf_token"
)

func (s *session) cookie(name string) string {
	u, _ := http.NewRequest("GET", env.baseURL, nil)
	for _, c := range s.client.Jar.Cookies(u.URL) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (s *session) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	var req *http.Request
	if body != "" {
		req, _ = http.NewRequest(method, env.baseURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, _ = http.NewRequest(method, env.baseURL+path, nil)
	}
	if s.csrf != "" {
		req.Header.Set("X-CSRF-Token", s.csrf)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var buf strings.Builder
	_, _ = bufioCopy(&buf, res)
	return response{status: res.StatusCode, header: res.Header, body: []byte(buf.String())}
}

func bufioCopy(w *strings.Builder, res *http.Response) (int64, error) {
	r := bufio.NewReader(res.Body)
	return r.WriteTo(w)
}

// createAs files a ticket as s and returns its number.
func createAs(t *testing.T, s *session, subject string) int64 {
	t.Helper()
	res := s.do(t, "POST", "/api/v1/tickets", fmt.Sprintf(`{"subject":%q}`, subject))
	if res.status != http.StatusCreated {
		t.Fatalf("%s creating %q: %d %s", s.email, subject, res.status, res.body)
	}
	var tk ticket.Ticket
	res.decode(t, &tk)
	return tk.Number
}

// setTeam routes a ticket to a team through its workflow (PATCH as the
// bootstrap admin): the workflow is the ticket's one writer, so a change
// made in the table alone would be undone by its next change.
func setTeam(t *testing.T, number int64, team string) {
	t.Helper()
	res := call(t, env.baseURL, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", number), []byte(fmt.Sprintf(`{"team":%q}`, team)))
	if res.status != http.StatusOK {
		t.Fatalf("route ticket %d to %s: %d %s", number, team, res.status, res.body)
	}
}

var matrixBodies = map[string]string{
	"POST /api/v1/auth/login":            `{"email":"nobody-%d@example.com","password":"wrong password"}`,
	"POST /api/v1/tokens":                `{"name":"matrix","scopes":["tickets:read"]}`,
	"POST /api/v1/users":                 `{"email":"matrix-%d@example.com","name":"Matrix","role":"requester","password":"long enough password"}`,
	"POST /api/v1/teams":                 `{"name":"Matrix team %d"}`,
	"POST /api/v1/organizations":         `{"name":"Matrix org %d","shared_tickets":true}`,
	"POST /api/v1/tickets":               `{"subject":"matrix ticket"}`,
	"POST /api/v1/rules":                 `{"name":"matrix rule %d","kind":"priority","conditions":[{"field":"channel","op":"is","value":"email"}],"actions":{"priority":"low"}}`,
	"PATCH /api/v1/rules/999999":         `{"enabled":false}`,
	"PATCH /api/v1/agents/999999":        `{"capacity":5}`,
	"POST /api/v1/categories":            `{"name":"Matrix category %d"}`,
	"PATCH /api/v1/categories/999999":    `{"name":"renamed"}`,
	"POST /api/v1/custom-fields":         `{"key":"matrix_%d","label":"Matrix","type":"text"}`,
	"PATCH /api/v1/custom-fields/999999": `{"label":"renamed"}`,

	// Account settings and saved views (issue 20).
	"PATCH /api/v1/me":                    `{"time_zone":null}`,
	"POST /api/v1/views":                  `{"name":"matrix view %d","query":"status:open"}`,
	"PATCH /api/v1/views/999999":          `{"name":"renamed"}`,
	"PATCH /api/v1/views/builtin:my-open": `{"name":"renamed"}`,
}

func publicRoute(method, path string) bool {
	for _, r := range env.srv.Routes() {
		if r.Method == method && r.Path == path {
			return r.Public
		}
	}
	return false
}

func TestRouteMatrix(t *testing.T) {
	req1 := login(t, "requester@example.com", testPassword)
	req2 := login(t, "requester2@example.com", testPassword)
	agent2 := login(t, "agent2@example.com", testPassword)
	ids := map[string]int64{
		"{own}":   createAs(t, req1, "matrix own"),
		"{other}": createAs(t, req2, "matrix other"),
		"{team2}": createAs(t, agent2, "matrix finance"),
	}
	setTeam(t, ids["{team2}"], "Finance")

	f, err := os.Open("testdata/route_matrix.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Callers in column order: sessions (and anonymous) left of the "|",
	// API tokens right of it.
	roles := []string{"anonymous", "requester", "agent", "lead", "admin"}
	emails := map[string]string{"requester": "requester@example.com", "agent": "agent@example.com",
		"lead": "lead@example.com", "admin": "admin@example.com"}
	tokenCallers := []struct{ name, user, scope string }{
		{"agent:read", "agent", identity.ScopeTicketsRead},
		{"agent:write", "agent", identity.ScopeTicketsWrite},
		{"admin:read", "admin", identity.ScopeTicketsRead},
		{"admin:admin", "admin", identity.ScopeAdmin},
	}
	tokens := map[string]string{}
	for _, tc := range tokenCallers {
		tok, _, err := env.ident.CreateToken(context.Background(), env.users[tc.user].ID, "matrix "+tc.name, []string{tc.scope}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens[tc.name] = tok
		roles = append(roles, tc.name)
		emails[tc.name] = emails[tc.user]
	}
	sessions := map[string]*session{} // signed in once per role
	covered := map[string]bool{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sessionCols, tokenCols, ok := strings.Cut(line, "|")
		fields := append(strings.Fields(sessionCols), strings.Fields(tokenCols)...)
		if !ok || len(fields) != 2+len(roles) {
			t.Fatalf("bad matrix row %q: want method, path, %d session statuses | %d token statuses", line, len(roles)-len(tokenCallers), len(tokenCallers))
		}
		method, path := fields[0], fields[1]
		route := path
		for ph, id := range ids {
			path = strings.ReplaceAll(path, ph, strconv.FormatInt(id, 10))
			route = strings.ReplaceAll(route, ph, ":id")
		}
		route = strings.Replace(route, "/999999", "/:id", 1)
		covered[method+" "+route] = true
		// A row also covers a route whose other parameters it fills in, e.g.
		// /tickets/{own}/attachments/999999 covers …/:id/attachments/:aid.
		for _, r := range env.srv.Routes() {
			if r.Method == method && sameRouteShape(r.Path, route) {
				covered[r.Method+" "+r.Path] = true
			}
		}
		for i, role := range roles {
			want, _ := strconv.Atoi(fields[2+i])
			n++
			body := matrixBodies[method+" "+fields[1]]
			if strings.Contains(body, "%d") {
				body = fmt.Sprintf(body, time.Now().UnixNano())
			}
			var got response
			anonymous := &session{client: &http.Client{Timeout: 30 * time.Second}}
			switch {
			case role == "anonymous":
				flushDenials(t) // so that this attempt's count is an audit row of its own
				got = anonymous.do(t, method, path, body)
				flushDenials(t)
			case tokens[role] != "":
				got = anonymous.do(t, method, path, body, "Authorization", "Bearer "+tokens[role])
			default:
				if sessions[role] == nil {
					sessions[role] = login(t, emails[role], testPassword)
				}
				got = sessions[role].do(t, method, path, body)
				if method == "POST" && path == "/api/v1/auth/logout" {
					delete(sessions, role) // signed out: sign in again for the next row
				}
			}
			if got.status != want {
				t.Errorf("%s %s as %s: %d, want %d: %.200s", method, fields[1], role, got.status, want, got.body)
			}
			// Every refused attempt on a protected route is in the audit log.
			if (want == 401 || want == 403 || (want == 404 && strings.Contains(path, "/tickets/"))) && !publicRoute(method, route) {
				actor := "anonymous"
				if role != "anonymous" {
					actor = emails[role]
				}
				via := "" // a token caller's refusals say so
				if tokens[role] != "" {
					via = "token"
				}
				var n int
				err := env.store.Pool().QueryRow(context.Background(),
					`SELECT count(*) FROM audit_log WHERE result = 'denied' AND actor = $1 AND detail->>'method' = $2 AND detail->>'path' = $3
					 AND ($4 = '' OR detail->>'via' = $4)`,
					actor, method, strings.SplitN(path, "?", 2)[0], via).Scan(&n)
				if err != nil || n == 0 {
					t.Errorf("%s %s as %s was refused but is not in the audit log as denied (%v)", method, fields[1], role, err)
				}
			}
		}
	}
	for _, r := range env.srv.Routes() {
		if !covered[r.Method+" "+r.Path] {
			t.Errorf("route %s %s has no row in testdata/route_matrix.txt", r.Method, r.Path)
		}
	}
	t.Logf("%d route × caller checks", n)
}

// sameRouteShape reports whether two route paths differ only in the names
// of their parameters.
func sameRouteShape(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i] != bs[i] && !(strings.HasPrefix(as[i], ":") && strings.HasPrefix(bs[i], ":")) {
			return false
		}
	}
	return true
}

// A requester never sees another requester's ticket: 404, like a missing
// one, and the attempt is in the audit log as denied.
func TestIDORIsNotFoundAndAudited(t *testing.T) {
	owner := login(t, "requester@example.com", testPassword)
	other := login(t, "requester2@example.com", testPassword)
	n := createAs(t, owner, "Salary question")
	res := other.do(t, "GET", fmt.Sprintf("/api/v1/tickets/%d", n), "")
	if res.status != http.StatusNotFound {
		t.Fatalf("other requester read ticket %d: %d %s", n, res.status, res.body)
	}
	missing := other.do(t, "GET", "/api/v1/tickets/987654321", "")
	var p1, p2 problem
	res.decode(t, &p1)
	missing.decode(t, &p2)
	if p1.Type != p2.Type || p1.Title != p2.Title {
		t.Errorf("a hidden ticket answers differently from a missing one: %+v vs %+v", p1, p2)
	}
	entries, _, err := env.audit.Find(context.Background(), audit.Query{Actor: "requester2@example.com", Result: audit.ResultDenied, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || (e.Action == "ticket.read" && e.Object == fmt.Sprintf("ticket:%d", n))
	}
	if !found {
		t.Errorf("denied read of ticket %d not in the audit log: %+v", n, entries)
	}
}

// A requester with many newer tickets of others still gets a full first
// page of their own: filtering happens inside the query.
func TestRequesterGetsFullPageOfOwnTickets(t *testing.T) {
	me := login(t, "requester2@example.com", testPassword)
	others := login(t, "requester@example.com", testPassword)
	var mine []int64
	for i := 0; i < 26; i++ {
		mine = append(mine, createAs(t, me, fmt.Sprintf("mine %d", i)))
	}
	for i := 0; i < 50; i++ {
		createAs(t, others, fmt.Sprintf("theirs %d", i))
	}
	var page struct {
		Items      []ticket.Ticket `json:"items"`
		NextCursor *string         `json:"next_cursor"`
	}
	me.do(t, "GET", "/api/v1/tickets?limit=25", "").decode(t, &page)
	if len(page.Items) != 25 || page.NextCursor == nil {
		t.Fatalf("first page has %d items, cursor %v", len(page.Items), page.NextCursor)
	}
	for _, tk := range page.Items {
		if tk.RequesterID == nil || *tk.RequesterID != env.users["requester2"].ID {
			t.Fatalf("page holds ticket %d of requester %v", tk.Number, tk.RequesterID)
		}
	}
	if page.Items[0].Number != mine[len(mine)-1] {
		t.Errorf("newest own ticket %d, page starts at %d", mine[len(mine)-1], page.Items[0].Number)
	}
}

func TestTokens(t *testing.T) {
	s := login(t, "agent@example.com", testPassword)
	res := s.do(t, "POST", "/api/v1/tokens", `{"name":"ci","scopes":["tickets:read"]}`)
	if res.status != http.StatusCreated {
		t.Fatalf("create token: %d %s", res.status, res.body)
	}
	var created struct {
		Token string `json:"token"`
		Info  struct {
			ID int64 `json:"id"`
		} `json:"info"`
	}
	res.decode(t, &created)
	bearer := func(tok string) int {
		return call(t, env.baseURL, "GET", "/api/v1/tickets?limit=1", nil, "Authorization", "Bearer "+tok).status
	}
	if got := bearer(created.Token); got != http.StatusOK {
		t.Fatalf("fresh token: %d", got)
	}
	// Read-only scope cannot write.
	if got := call(t, env.baseURL, "POST", "/api/v1/tickets", []byte(`{"subject":"x"}`), "Authorization", "Bearer "+created.Token).status; got != http.StatusForbidden {
		t.Errorf("read-only token created a ticket: %d", got)
	}
	tampered := created.Token[:len(created.Token)-1] + string("AB"[len(created.Token)%2])
	if tampered == created.Token {
		tampered = created.Token[:len(created.Token)-1] + "Z"
	}
	if got := bearer(tampered); got != http.StatusUnauthorized {
		t.Errorf("tampered token: %d", got)
	}
	if got := bearer("not-a-token"); got != http.StatusUnauthorized {
		t.Errorf("garbage token: %d", got)
	}
	// Expired.
	if _, err := env.store.Pool().Exec(context.Background(), `UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, created.Info.ID); err != nil {
		t.Fatal(err)
	}
	if got := bearer(created.Token); got != http.StatusUnauthorized {
		t.Errorf("expired token: %d", got)
	}
	if _, err := env.store.Pool().Exec(context.Background(), `UPDATE api_tokens SET expires_at = NULL WHERE id = $1`, created.Info.ID); err != nil {
		t.Fatal(err)
	}
	if got := bearer(created.Token); got != http.StatusOK {
		t.Fatalf("token after un-expiring: %d", got)
	}
	// Revoked.
	if res := s.do(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.Info.ID), ""); res.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	if got := bearer(created.Token); got != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", got)
	}
}

// A session id planted before sign-in is never the one used after it.
func TestSessionFixation(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	u, _ := http.NewRequest("GET", env.baseURL, nil)
	planted := "attacker-chosen-session-id"
	jar.SetCookies(u.URL, []*http.Cookie{{Name: sessionCookieName, Value: planted, Path: "/"}})
	s := &session{client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, email: "agent@example.com"}
	if res := s.do(t, "POST", "/api/v1/auth/login", fmt.Sprintf(`{"email":"agent@example.com","password":%q}`, testPassword)); res.status != http.StatusOK {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	if got := s.cookie(sessionCookieName); got == planted || got == "" {
		t.Fatalf("session cookie after login is %q", got)
	}
	fixed := &session{client: &http.Client{Timeout: 30 * time.Second}}
	if res := fixed.do(t, "GET", "/api/v1/me", "", "Cookie", sessionCookieName+"="+planted); res.status != http.StatusUnauthorized {
		t.Errorf("planted session id works: %d", res.status)
	}
	// Logging out kills the session server-side, not just the cookie.
	old := s.cookie(sessionCookieName)
	s.csrf = s.cookie(csrfCookieName)
	if res := s.do(t, "POST", "/api/v1/auth/logout", ""); res.status != http.StatusNoContent {
		t.Fatalf("logout: %d", res.status)
	}
	if res := fixed.do(t, "GET", "/api/v1/me", "", "Cookie", sessionCookieName+"="+old); res.status != http.StatusUnauthorized {
		t.Errorf("session works after logout: %d", res.status)
	}
}

func TestCSRF(t *testing.T) {
	s := login(t, "agent@example.com", testPassword)
	good := s.csrf
	for _, c := range []struct{ name, header string }{{"missing", ""}, {"wrong", "not-the-token"}} {
		s.csrf = c.header
		res := s.do(t, "POST", "/api/v1/tickets", `{"subject":"csrf"}`)
		var p problem
		res.decode(t, &p)
		if res.status != http.StatusForbidden || p.Type != "/problems/csrf" {
			t.Errorf("%s CSRF header: %d %+v", c.name, res.status, p)
		}
	}
	s.csrf = good
	if res := s.do(t, "POST", "/api/v1/tickets", `{"subject":"csrf ok"}`); res.status != http.StatusCreated {
		t.Errorf("with the right header: %d %s", res.status, res.body)
	}
	// Tokens need no CSRF header.
	if res := call(t, env.baseURL, "POST", "/api/v1/tickets", []byte(`{"subject":"token, no csrf"}`)); res.status != http.StatusCreated {
		t.Errorf("token without CSRF header: %d", res.status)
	}
}

func TestBruteForceIsThrottled(t *testing.T) {
	anon := &session{client: &http.Client{Timeout: 30 * time.Second}}
	body := func(pw string) string { return fmt.Sprintf(`{"email":"lead@example.com","password":%q}`, pw) }
	for i := 0; i < 5; i++ {
		if res := anon.do(t, "POST", "/api/v1/auth/login", body(fmt.Sprintf("guess %d", i))); res.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, res.status)
		}
	}
	res := anon.do(t, "POST", "/api/v1/auth/login", body(testPassword))
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("6th attempt with the right password: %d (Retry-After %q)", res.status, res.header.Get("Retry-After"))
	}
	flushDenials(t)
	entries, _, err := env.audit.Find(context.Background(), audit.Query{Action: "auth.login", Result: audit.ResultDenied, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if denied := deniedAttempts(t, entries, "user:lead@example.com"); denied < 6 {
		t.Errorf("%d denied sign-ins of lead@example.com in the audit log, want 6", denied)
	}
	// Let later tests sign the lead in.
	if _, err := env.store.Pool().Exec(context.Background(), `DELETE FROM login_failures WHERE lower(email) = 'lead@example.com'`); err != nil {
		t.Fatal(err)
	}
}

// Filter parameters are data, never SQL: probes get 422 or an empty
// answer, never a 500 and never more rows.
func TestInjectionProbes(t *testing.T) {
	probes := []string{
		"/api/v1/tickets?cursor=" + urlEscape("' OR 1=1--"),
		"/api/v1/tickets?limit=" + urlEscape("1;DROP TABLE tickets"),
		"/api/v1/audit-log?actor=" + urlEscape("' OR '1'='1"),
		"/api/v1/audit-log?action=" + urlEscape("x' UNION SELECT * FROM users--"),
		"/api/v1/audit-log?since=" + urlEscape("2020-01-01'; DELETE FROM audit_log;--"),
		"/api/v1/tickets/" + urlEscape("1 OR 1=1"),
	}
	for _, p := range probes {
		res := call(t, env.baseURL, "GET", p, nil)
		if res.status >= 500 {
			t.Errorf("%s: %d %s", p, res.status, res.body)
		}
		if res.status == http.StatusOK && strings.Contains(p, "audit-log") {
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			res.decode(t, &page)
			if len(page.Items) != 0 {
				t.Errorf("%s matched %d audit entries", p, len(page.Items))
			}
		}
	}
	if n := ticketCount(t); n == 0 {
		t.Error("tickets table emptied")
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer(" ", "%20", "'", "%27", ";", "%3B", "=", "%3D", "*", "%2A", "-", "-")
	return r.Replace(s)
}

// The audit log is append-only for the application's own database role.
func TestAuditLogIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	for _, stmt := range []string{`UPDATE audit_log SET actor = 'mallory'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		_, err := env.store.Pool().Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %v", stmt, err)
		}
	}
	v, err := env.audit.Verify(ctx)
	if err != nil || !v.OK {
		t.Errorf("audit chain: %+v %v", v, err)
	}
}

// As requester one sees only one's own tickets; as agent, one's teams' and
// untriaged ones.
func TestListsAreScoped(t *testing.T) {
	req := login(t, "requester@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)
	agent2 := login(t, "agent2@example.com", testPassword)
	finance := createAs(t, agent2, "finance only")
	setTeam(t, finance, "Finance")
	support := createAs(t, req, "support ticket")
	setTeam(t, support, "Support")
	untriaged := createAs(t, req, "untriaged ticket")
	list := func(s *session) map[int64]bool {
		var page struct {
			Items []ticket.Ticket `json:"items"`
		}
		s.do(t, "GET", "/api/v1/tickets?limit=100", "").decode(t, &page)
		out := map[int64]bool{}
		for _, tk := range page.Items {
			out[tk.Number] = true
			if s == req && (tk.RequesterID == nil || *tk.RequesterID != env.users["requester"].ID) {
				t.Errorf("requester sees ticket %d of %v", tk.Number, tk.RequesterID)
			}
		}
		return out
	}
	r := list(req)
	if !r[support] || !r[untriaged] || r[finance] {
		t.Errorf("requester's list: support %v untriaged %v finance %v", r[support], r[untriaged], r[finance])
	}
	a := list(agent)
	if !a[support] || !a[untriaged] || a[finance] {
		t.Errorf("agent's list: support %v untriaged %v finance %v", a[support], a[untriaged], a[finance])
	}
}

// The attack: a tickets:read token of an admin asked POST /tokens for the
// admin scope, got it, and made an admin user with it. Now the request is
// refused as a problem, nothing is created, and the read token can
// neither list nor revoke tokens.
func TestTokenCannotEscalateScope(t *testing.T) {
	ctx := context.Background()
	admin := env.users["admin"]
	readTok, readInfo, err := env.ident.CreateToken(ctx, admin.ID, "read only", []string{identity.ScopeTicketsRead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bearer := []string{"Authorization", "Bearer " + readTok}
	tokenRows := func() int {
		var n int
		if err := env.store.Pool().QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE user_id = $1`, admin.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := tokenRows()
	for _, scopes := range []string{`["admin"]`, `["tickets:write"]`, `["tickets:read","admin"]`} {
		res := call(t, env.baseURL, "POST", "/api/v1/tokens", []byte(`{"name":"escalate","scopes":`+scopes+`}`), bearer...)
		var p problem
		res.decode(t, &p)
		if res.status != http.StatusForbidden || !strings.HasPrefix(res.header.Get("Content-Type"), "application/problem+json") || p.Type != "/problems/forbidden" {
			t.Errorf("scopes %s: %d %s %s", scopes, res.status, res.header.Get("Content-Type"), res.body)
		}
	}
	if n := tokenRows(); n != before {
		t.Fatalf("refused requests created %d tokens", n-before)
	}
	res := call(t, env.baseURL, "POST", "/api/v1/users",
		[]byte(`{"email":"mallory-admin@example.com","name":"Mallory","role":"admin","password":"long enough password"}`), bearer...)
	if res.status != http.StatusForbidden {
		t.Errorf("read token created a user: %d %s", res.status, res.body)
	}
	if _, err := env.ident.UserByEmail(ctx, "mallory-admin@example.com"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("the admin user exists: %v", err)
	}
	if res := call(t, env.baseURL, "GET", "/api/v1/tokens", nil, bearer...); res.status != http.StatusForbidden {
		t.Errorf("read token listed tokens: %d", res.status)
	}
	if res := call(t, env.baseURL, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", readInfo.ID), nil, bearer...); res.status != http.StatusForbidden {
		t.Errorf("read token revoked a token: %d", res.status)
	}

	// What it holds it may pass on; revoking it (from a session) takes
	// the new token with it.
	res = call(t, env.baseURL, "POST", "/api/v1/tokens", []byte(`{"name":"child","scopes":["tickets:read"]}`), bearer...)
	if res.status != http.StatusCreated {
		t.Fatalf("read token making a read token: %d %s", res.status, res.body)
	}
	var child struct {
		Token string `json:"token"`
	}
	res.decode(t, &child)
	s := login(t, "admin@example.com", testPassword)
	if res := s.do(t, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", readInfo.ID), ""); res.status != http.StatusNoContent {
		t.Fatalf("revoke from a session: %d %s", res.status, res.body)
	}
	if res := call(t, env.baseURL, "GET", "/api/v1/me", nil, "Authorization", "Bearer "+child.Token); res.status != http.StatusUnauthorized {
		t.Errorf("token made by a revoked token still works: %d", res.status)
	}
}

// The attack: 30 parallel wrong passwords for one account were all
// checked. Counted before checking, at most 5 are, every guess is answered
// 401 or 429, and another account from the same address still signs in.
func TestParallelBadLogins(t *testing.T) {
	ctx := context.Background()
	const email = "guessed@example.com"
	if _, err := env.ident.CreateUser(ctx, identity.NewUser{Email: email, Name: "Guessed", Role: identity.RoleAgent, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.store.Pool().Exec(context.Background(), `DELETE FROM login_failures WHERE lower(email) = $1`, email)
	})
	checked := env.ident.PasswordChecks()
	const guesses = 30
	statuses := make(chan int, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			res, err := env.http.Post(env.baseURL+"/api/v1/auth/login", "application/json",
				strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"guess %d"}`, email, i)))
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	wrong := 0
	for st := range statuses {
		switch st {
		case http.StatusUnauthorized:
			wrong++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("a guess was answered %d", st)
		}
	}
	checked = env.ident.PasswordChecks() - checked
	if wrong > 5 || checked > 5 {
		t.Errorf("%d parallel guesses: %d answered 401, %d passwords checked; want at most 5", guesses, wrong, checked)
	}
	anon := &session{client: &http.Client{Timeout: 30 * time.Second}}
	if res := anon.do(t, "POST", "/api/v1/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, testPassword)); res.status != http.StatusTooManyRequests {
		t.Errorf("the right password after the guesses: %d, want 429", res.status)
	}
	login(t, "agent@example.com", testPassword) // same address, other account
}

// The client address (throttling, sessions, audit) comes from a
// forwarding header only when the peer is a trusted proxy: by default a
// client naming its own address in X-Forwarded-For is ignored.
func TestClientAddressFromProxyHeaders(t *testing.T) {
	ctx := context.Background()
	// failedFrom signs in with a wrong password through base, sending xff,
	// and returns the address the failure was counted against.
	failedFrom := func(base, email, xff string) string {
		t.Helper()
		t.Cleanup(func() {
			_, _ = env.store.Pool().Exec(context.Background(), `DELETE FROM login_failures WHERE lower(email) = $1`, email)
		})
		res := call(t, base, "POST", "/api/v1/auth/login", []byte(fmt.Sprintf(`{"email":%q,"password":"wrong password"}`, email)),
			"Authorization", "", "X-Forwarded-For", xff)
		if res.status != http.StatusUnauthorized {
			t.Fatalf("failed login: %d %s", res.status, res.body)
		}
		var ip string
		if err := env.store.Pool().QueryRow(ctx, `SELECT ip FROM login_failures WHERE lower(email) = $1`, email).Scan(&ip); err != nil {
			t.Fatal(err)
		}
		return ip
	}
	// signedInFrom signs agent2 in through base, sending xff, and returns
	// the addresses its session and the audit entry of the sign-in record.
	signedInFrom := func(base, xff string) (session, audited string) {
		t.Helper()
		res := call(t, base, "POST", "/api/v1/auth/login", []byte(fmt.Sprintf(`{"email":"agent2@example.com","password":%q}`, testPassword)),
			"Authorization", "", "X-Forwarded-For", xff)
		if res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		id := env.users["agent2"].ID
		if err := env.store.Pool().QueryRow(ctx, `SELECT ip FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1`, id).Scan(&session); err != nil {
			t.Fatal(err)
		}
		for range 50 { // the audit writer may commit a moment after the answer
			err := env.store.Pool().QueryRow(ctx, `SELECT ip FROM audit_log WHERE action = 'auth.login' AND result = 'allowed' AND object = $1
				ORDER BY id DESC LIMIT 1`, fmt.Sprintf("user:%d", id)).Scan(&audited)
			if err == nil && audited == session {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return session, audited
	}
	if ip := failedFrom(env.baseURL, "spoofer@example.com", "203.0.113.66"); ip != "127.0.0.1" {
		t.Errorf("without trusted proxies the failure is counted against %q, want the peer 127.0.0.1", ip)
	}
	if sess, audited := signedInFrom(env.baseURL, "203.0.113.66"); sess != "127.0.0.1" || audited != "127.0.0.1" {
		t.Errorf("without trusted proxies the session says %q and the audit log %q, want the peer 127.0.0.1", sess, audited)
	}

	cfg := env.cfg
	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	proxied := newAPI(cfg, nil)
	addr, err := listenAndServe(proxied)
	if err != nil {
		t.Fatal(err)
	}
	defer proxied.Shutdown(ctx)
	base := "http://" + addr
	// The client wrote 6.6.6.6 itself; the proxy appended what it saw.
	if ip := failedFrom(base, "proxied@example.com", "6.6.6.6, 203.0.113.67"); ip != "203.0.113.67" {
		t.Errorf("behind a trusted proxy the failure is counted against %q, want 203.0.113.67", ip)
	}
	if sess, audited := signedInFrom(base, "6.6.6.6, 203.0.113.68"); sess != "203.0.113.68" || audited != "203.0.113.68" {
		t.Errorf("behind a trusted proxy the session says %q and the audit log %q, want 203.0.113.68", sess, audited)
	}
}

// A lead reroutes only the agents of the teams they lead, and of those
// agents' tickets only the ones of those teams; an agent sees a ticket
// assigned to them whatever its team.
func TestRerouteObeysLeadTeamsAndAssigneeSeesTicket(t *testing.T) {
	ctx := context.Background()
	lead := login(t, "lead@example.com", testPassword) // leads Support: agent@example.com
	agent := login(t, "agent@example.com", testPassword)
	agentID, agent2ID := env.users["agent"].ID, env.users["agent2"].ID

	// A Finance ticket assigned to agent@example.com, outside their team.
	finance := createAs(t, login(t, "requester@example.com", testPassword), "assigned across teams")
	res := call(t, env.baseURL, "PATCH", fmt.Sprintf("/api/v1/tickets/%d", finance), []byte(`{"team":"Finance","assignee":"agent@example.com"}`))
	if res.status != http.StatusOK {
		t.Fatalf("assign: %d %s", res.status, res.body)
	}
	if res := agent.do(t, "GET", fmt.Sprintf("/api/v1/tickets/%d", finance), ""); res.status != http.StatusOK {
		t.Errorf("the assignee cannot read their ticket of another team: %d", res.status)
	}
	var page struct {
		Items []ticket.Ticket `json:"items"`
	}
	agent.do(t, "GET", "/api/v1/tickets?assignee=me&limit=100", "").decode(t, &page)
	if !slices.ContainsFunc(page.Items, func(tk ticket.Ticket) bool { return tk.Number == finance }) {
		t.Errorf("ticket %d assigned to the agent is not in their list", finance)
	}

	// Not the lead's agent: refused, nothing moves.
	if res := lead.do(t, "POST", fmt.Sprintf("/api/v1/agents/%d/reroute", agent2ID), ""); res.status != http.StatusForbidden {
		t.Errorf("lead rerouted another team's agent: %d %s", res.status, res.body)
	}
	if res := lead.do(t, "PATCH", fmt.Sprintf("/api/v1/agents/%d", agent2ID), `{"available":false}`); res.status != http.StatusForbidden {
		t.Errorf("lead changed another team's agent: %d %s", res.status, res.body)
	}

	// The lead's agent: only the Support tickets move.
	var inSupport int
	if err := env.store.Pool().QueryRow(ctx, `SELECT count(*) FROM tickets t JOIN teams m ON m.id = t.team_id
		WHERE t.assignee_id = $1 AND m.name = 'Support' AND t.status IN ('open', 'in_progress', 'pending') AND t.archived_at IS NULL`,
		agentID).Scan(&inSupport); err != nil {
		t.Fatal(err)
	}
	res = lead.do(t, "POST", fmt.Sprintf("/api/v1/agents/%d/reroute", agentID), "")
	var moved struct {
		Rerouted int `json:"rerouted"`
	}
	res.decode(t, &moved)
	if res.status != http.StatusOK || moved.Rerouted != inSupport {
		t.Errorf("lead rerouted %d of the agent's tickets (%d %s), want the %d of Support", moved.Rerouted, res.status, res.body, inSupport)
	}
	var tk ticket.Ticket
	call(t, env.baseURL, "GET", fmt.Sprintf("/api/v1/tickets/%d", finance), nil).decode(t, &tk)
	if tk.AssigneeID == nil || *tk.AssigneeID != agentID {
		t.Errorf("the lead's reroute moved Finance ticket %d to %v", finance, tk.AssigneeID)
	}
}
