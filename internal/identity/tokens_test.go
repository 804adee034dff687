package identity

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var tokenFormat = regexp.MustCompile(`^hd_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$`)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleAgent, nil)
	token, info, err := svc.CreateToken(ctx, u.ID, " CI ", []string{ScopeTicketsRead, ScopeTicketsRead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !tokenFormat.MatchString(token) || info.Prefix != token[3:11] {
		t.Fatalf("token %q with prefix %q", token, info.Prefix)
	}
	if info.Name != "CI" || !slices.Equal(info.Scopes, []string{ScopeTicketsRead}) || info.ExpiresAt != nil || info.LastUsedAt != nil {
		t.Fatalf("info %+v", info)
	}
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), token[12:]) || !strings.Contains(string(b), `"last_used_at"`) {
		t.Errorf("JSON %s", b)
	}

	p, err := svc.TokenPrincipal(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != u || p.Via != ViaToken || p.TokenID != info.ID {
		t.Fatalf("principal %+v", p)
	}
	if !p.HasScope(ScopeTicketsRead) || p.HasScope(ScopeTicketsWrite) || p.HasScope(ScopeAdmin) {
		t.Errorf("read-only token has scopes %v", p.Scopes)
	}
	list, err := svc.ListTokens(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != info.ID || list[0].LastUsedAt == nil {
		t.Fatalf("ListTokens = %+v, want the token with last_used_at set", list)
	}

	// The right prefix with another secret is not the token.
	forged := token[:12] + strings.Repeat("A", 43)
	_, err = svc.TokenPrincipal(ctx, forged)
	wantErr(t, err, ErrUnauthenticated)
	for _, bad := range []string{"", "hd_", token[:20], strings.Repeat("x", 600)} {
		_, err = svc.TokenPrincipal(ctx, bad)
		wantErr(t, err, ErrUnauthenticated)
	}

	// Disabled users' tokens stop working.
	if err := svc.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = svc.TokenPrincipal(ctx, token)
	wantErr(t, err, ErrUnauthenticated)
	if err := svc.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}

	// Only the owner can revoke; then the token is dead.
	other := newUser(t, RoleAgent, nil)
	wantErr(t, svc.RevokeToken(ctx, other.ID, info.ID), ErrNotFound)
	if _, err := svc.TokenPrincipal(ctx, token); err != nil {
		t.Fatalf("after a stranger's revoke: %v", err)
	}
	if err := svc.RevokeToken(ctx, u.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.TokenPrincipal(ctx, token)
	wantErr(t, err, ErrUnauthenticated)
	if list, err := svc.ListTokens(ctx, u.ID); err != nil || len(list) != 1 || list[0].RevokedAt == nil {
		t.Fatalf("ListTokens after revoke = %+v, %v", list, err)
	}
}

func TestTokenExpires(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleAgent, nil)
	at := time.Now().Add(time.Hour)
	token, info, err := svc.CreateToken(ctx, u.ID, "expiring", []string{ScopeTicketsWrite}, &at)
	if err != nil {
		t.Fatal(err)
	}
	if info.ExpiresAt == nil || info.ExpiresAt.Sub(at).Abs() > time.Millisecond {
		t.Fatalf("ExpiresAt = %v, want %v", info.ExpiresAt, at)
	}
	if _, err := svc.TokenPrincipal(ctx, token); err != nil {
		t.Fatal(err)
	}
	mustExec(t, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, info.ID)
	_, err = svc.TokenPrincipal(ctx, token)
	wantErr(t, err, ErrUnauthenticated)

	past := time.Now().Add(-time.Minute)
	_, _, err = svc.CreateToken(ctx, u.ID, "stale", []string{ScopeTicketsRead}, &past)
	wantField(t, err, "expires_at")
}

func TestTokenScopes(t *testing.T) {
	ctx := context.Background()
	agent, admin := newUser(t, RoleAgent, nil), newUser(t, RoleAdmin, nil)
	for _, tc := range []struct {
		name   string
		user   User
		scopes []string
		field  string
	}{
		{"none", agent, nil, "scopes"},
		{"unknown", agent, []string{"tickets:delete"}, "scopes"},
		{"admin scope for an agent", agent, []string{ScopeAdmin}, "scopes"},
		{"no name", agent, []string{ScopeTicketsRead}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "t"
			if tc.field == "name" {
				name = " "
			}
			_, _, err := svc.CreateToken(ctx, tc.user.ID, name, tc.scopes, nil)
			wantField(t, err, tc.field)
		})
	}
	_, _, err := svc.CreateToken(ctx, -1, "t", []string{ScopeTicketsRead}, nil)
	wantErr(t, err, ErrNotFound)

	token, _, err := svc.CreateToken(ctx, admin.ID, "ops", []string{ScopeAdmin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.TokenPrincipal(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range TokenScopes() {
		if !p.HasScope(sc) {
			t.Errorf("admin token lacks %s", sc)
		}
	}
	if (Principal{}).HasScope(ScopeTicketsRead) {
		t.Error("a principal that did not authenticate has a scope")
	}
}

func TestBootstrapToken(t *testing.T) {
	ctx := context.Background()
	admin := newUser(t, RoleAdmin, nil)
	const secret = "operator-chosen-bootstrap-secret"
	first, err := svc.CreateTokenWithSecret(ctx, admin.ID, "bootstrap", []string{ScopeAdmin}, secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(secret, first.Prefix) {
		t.Errorf("prefix %q reveals part of the secret", first.Prefix)
	}
	again, err := svc.CreateTokenWithSecret(ctx, admin.ID, "bootstrap", []string{ScopeAdmin}, secret)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID {
		t.Fatalf("second registration made token %d, want %d", again.ID, first.ID)
	}
	if list, err := svc.ListTokens(ctx, admin.ID); err != nil || len(list) != 1 {
		t.Fatalf("ListTokens = %+v, %v; want one token", list, err)
	}
	p, err := svc.TokenPrincipal(ctx, secret)
	if err != nil || p.User.ID != admin.ID || !p.HasScope(ScopeAdmin) {
		t.Fatalf("TokenPrincipal = %+v, %v", p, err)
	}

	// A revoked bootstrap token stays revoked when registered again.
	if err := svc.RevokeToken(ctx, admin.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	if again, err := svc.CreateTokenWithSecret(ctx, admin.ID, "bootstrap", []string{ScopeAdmin}, secret); err != nil || again.RevokedAt == nil {
		t.Fatalf("after revoke: %+v, %v", again, err)
	}
	_, err = svc.TokenPrincipal(ctx, secret)
	wantErr(t, err, ErrUnauthenticated)

	otherAdmin := newUser(t, RoleAdmin, nil)
	_, err = svc.CreateTokenWithSecret(ctx, otherAdmin.ID, "bootstrap", []string{ScopeAdmin}, secret)
	wantErr(t, err, ErrConflict)
	_, err = svc.CreateTokenWithSecret(ctx, admin.ID, "bootstrap", []string{ScopeAdmin}, "too-short-23-characters")
	wantField(t, err, "token")

	// A token in the generated format keeps its own prefix.
	const shaped = "hd_0a1b2c3d_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
	info, err := svc.CreateTokenWithSecret(ctx, admin.ID, "shaped", []string{ScopeTicketsRead}, shaped)
	if err != nil || info.Prefix != "0a1b2c3d" {
		t.Fatalf("shaped bootstrap token: %+v, %v", info, err)
	}
}

// tokenPrincipal issues a token for p with scopes and returns the caller
// holding it.
func tokenPrincipal(t *testing.T, p Principal, scopes []string, expires *time.Time) (Principal, TokenInfo) {
	t.Helper()
	ctx := context.Background()
	token, info, err := svc.IssueToken(ctx, p, "parent", scopes, expires)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := svc.TokenPrincipal(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return tp, info
}

func tokenCount(t *testing.T, userID int64) int {
	t.Helper()
	var n int
	if err := testPool.QueryRow(context.Background(), `SELECT count(*) FROM api_tokens WHERE user_id = $1`, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The attack: a tickets:read token of an admin minted an admin token. A
// token passes on only scopes it holds; a session what the role allows.
func TestIssueTokenPassesOnNoMoreThanItHolds(t *testing.T) {
	ctx := context.Background()
	admin, requester := newUser(t, RoleAdmin, nil), newUser(t, RoleRequester, nil)
	adminSession, requesterSession := principalOf(t, admin), principalOf(t, requester)
	readOnly, _ := tokenPrincipal(t, adminSession, []string{ScopeTicketsRead}, nil)

	before := tokenCount(t, admin.ID)
	for _, scopes := range [][]string{{ScopeAdmin}, {ScopeTicketsWrite}, {ScopeTicketsRead, ScopeAdmin}} {
		_, _, err := svc.IssueToken(ctx, readOnly, "escalate", scopes, nil)
		wantErr(t, err, ErrForbidden)
	}
	if n := tokenCount(t, admin.ID); n != before {
		t.Fatalf("refused requests made %d tokens", n-before)
	}
	if _, _, err := svc.IssueToken(ctx, readOnly, "same", []string{ScopeTicketsRead}, nil); err != nil {
		t.Fatalf("a read token making a read token: %v", err)
	}

	// A session: what the role allows; a requester never gets admin.
	_, _, err := svc.IssueToken(ctx, requesterSession, "mine", []string{ScopeAdmin}, nil)
	wantErr(t, err, ErrForbidden)
	if _, _, err := svc.IssueToken(ctx, requesterSession, "mine", []string{ScopeTicketsRead, ScopeTicketsWrite}, nil); err != nil {
		t.Fatalf("requester's ticket token: %v", err)
	}
	// An admin token holds every scope and may pass them all on.
	adminToken, _ := tokenPrincipal(t, adminSession, []string{ScopeAdmin}, nil)
	if _, _, err := svc.IssueToken(ctx, adminToken, "all", TokenScopes(), nil); err != nil {
		t.Fatalf("admin token making an admin token: %v", err)
	}
	// Once the user is no longer an admin, their admin token cannot make
	// another, though the row still lists the scope.
	if err := svc.SetRole(ctx, admin.ID, RoleAgent); err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.IssueToken(ctx, adminToken, "stale", []string{ScopeAdmin}, nil)
	wantErr(t, err, ErrForbidden)
	// Nobody signed in makes nothing.
	_, _, err = svc.IssueToken(ctx, Principal{User: requester}, "anon", []string{ScopeTicketsRead}, nil)
	wantErr(t, err, ErrUnauthenticated)
}

// A token made with a token cannot outlive it: it expires no later, and
// revoking the parent revokes the children.
func TestTokenMadeWithTokenEndsWithIt(t *testing.T) {
	ctx := context.Background()
	u := newUser(t, RoleAgent, nil)
	session := principalOf(t, u)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	parent, parentInfo := tokenPrincipal(t, session, []string{ScopeTicketsRead, ScopeTicketsWrite}, &at)

	childToken, child, err := svc.IssueToken(ctx, parent, "child", []string{ScopeTicketsRead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if child.ExpiresAt == nil || !child.ExpiresAt.Equal(at) {
		t.Errorf("child expires %v, want the parent's %v", child.ExpiresAt, at)
	}
	later := at.Add(time.Minute)
	_, _, err = svc.IssueToken(ctx, parent, "longer", []string{ScopeTicketsRead}, &later)
	wantField(t, err, "expires_at")
	childP, err := svc.TokenPrincipal(ctx, childToken)
	if err != nil {
		t.Fatal(err)
	}
	grandchildToken, _, err := svc.IssueToken(ctx, childP, "grandchild", []string{ScopeTicketsRead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A session's token is not tied to anything.
	sibling, _, err := svc.IssueToken(ctx, session, "sibling", []string{ScopeTicketsRead}, nil)
	if err != nil {
		t.Fatal(err)
	}

	if err := svc.RevokeToken(ctx, u.ID, parentInfo.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{childToken, grandchildToken} {
		_, err := svc.TokenPrincipal(ctx, tok)
		wantErr(t, err, ErrUnauthenticated)
	}
	if _, err := svc.TokenPrincipal(ctx, sibling); err != nil {
		t.Errorf("a session's token died with another token: %v", err)
	}
}

// The bootstrap_token option: changing it revokes the old token (and what
// it made), removing it revokes it, a short one is refused, and one an
// admin revoked stays revoked.
func TestSetBootstrapToken(t *testing.T) {
	ctx := context.Background()
	admin := newUser(t, RoleAdmin, nil)
	const first, second = "first-bootstrap-secret-0123456789abc", "second-bootstrap-secret-0123456789ab"
	if _, _, err := svc.SetBootstrapToken(ctx, admin.ID, "only-thirty-one-characters-long"); !errors.As(err, new(*FieldError)) {
		t.Fatalf("31 characters: %v", err)
	}
	info, _, err := svc.SetBootstrapToken(ctx, admin.ID, first)
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.TokenPrincipal(ctx, first)
	if err != nil || !p.HasScope(ScopeAdmin) {
		t.Fatalf("bootstrap token: %+v, %v", p, err)
	}
	made, _, err := svc.IssueToken(ctx, p, "script", []string{ScopeTicketsRead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Starting again with the same value changes nothing.
	again, n, err := svc.SetBootstrapToken(ctx, admin.ID, first)
	if err != nil || again.ID != info.ID || n != 0 {
		t.Fatalf("same value again: %+v, %d revoked, %v", again, n, err)
	}
	// Changed: the old one and the token it made stop working.
	if _, n, err = svc.SetBootstrapToken(ctx, admin.ID, second); err != nil || n != 2 {
		t.Fatalf("changed: %d revoked, %v", n, err)
	}
	for _, tok := range []string{first, made} {
		_, err := svc.TokenPrincipal(ctx, tok)
		wantErr(t, err, ErrUnauthenticated)
	}
	if _, err := svc.TokenPrincipal(ctx, second); err != nil {
		t.Fatalf("new bootstrap token: %v", err)
	}
	// Removed: no bootstrap token works any more; ordinary tokens do.
	ordinary, _, err := svc.CreateToken(ctx, admin.ID, "ordinary", []string{ScopeAdmin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := svc.SetBootstrapToken(ctx, 0, ""); err != nil || n != 1 {
		t.Fatalf("removed: %d revoked, %v", n, err)
	}
	_, err = svc.TokenPrincipal(ctx, second)
	wantErr(t, err, ErrUnauthenticated)
	// Setting an old value again does not revive its revoked row.
	if _, _, err := svc.SetBootstrapToken(ctx, admin.ID, first); err != nil {
		t.Fatal(err)
	}
	_, err = svc.TokenPrincipal(ctx, first)
	wantErr(t, err, ErrUnauthenticated)
	if _, err := svc.TokenPrincipal(ctx, ordinary); err != nil {
		t.Errorf("an ordinary token was revoked with the bootstrap token: %v", err)
	}
}
