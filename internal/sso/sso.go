// Package sso signs users in with an OpenID Connect provider using the
// authorization code flow with PKCE (S256), state and nonce.
//
// Discovery and ID token verification come from github.com/coreos/go-oidc/v3,
// the code exchange from golang.org/x/oauth2. The package keeps no server-side
// state: Begin returns a Pending value that the caller stores in a short-lived,
// HttpOnly cookie (Pending.Encode / DecodePending sign it with HMAC-SHA256),
// and Finish checks the callback against it.
//
//	p, err := sso.New(ctx, sso.Config{Issuer: ..., ClientID: ..., ClientSecret: ..., RedirectURL: ...})
//	// GET /auth/sso/login
//	authURL, pending := p.Begin()
//	cookie, _ := pending.Encode(key) // Set-Cookie: ...; HttpOnly; Secure; SameSite=Lax
//	// redirect to authURL
//	// GET /auth/sso/callback?code=...&state=...
//	pending, err := sso.DecodePending(cookieValue, key, sso.PendingMaxAge)
//	id, err := p.Finish(ctx, pending, r.URL.Query().Get("state"), r.URL.Query().Get("code"))
package sso

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Roles, from least to most privileged (the vocabulary is internal/ticket's).
const (
	RoleRequester = ticket.RoleRequester
	RoleAgent     = ticket.RoleAgent
	RoleLead      = ticket.RoleLead
	RoleAdmin     = ticket.RoleAdmin
)

// roleRank orders roles by privilege; a higher rank wins when a user is in
// several mapped groups.
var roleRank = map[string]int{RoleRequester: 1, RoleAgent: 2, RoleLead: 3, RoleAdmin: 4}

// PendingMaxAge is the recommended lifetime of a Pending login (and of the
// cookie that carries it).
const PendingMaxAge = 10 * time.Minute

// MinKeyLen is the minimum length of the key that signs Pending cookies.
const MinKeyLen = 32

// Sentinel errors; the errors returned by this package wrap them (errors.Is).
var (
	// ErrStateMismatch: the callback's state is not the one issued by Begin
	// (forged, replayed or crossed callback). Nothing was sent to the provider.
	ErrStateMismatch = errors.New("sso: state mismatch")
	// ErrExchange: the token endpoint refused the code (expired or reused
	// code, wrong PKCE verifier, bad client credentials) or could not be reached.
	ErrExchange = errors.New("sso: code exchange failed")
	// ErrInvalidToken: the ID token is missing or failed verification
	// (signature, issuer, audience, expiry, nonce, at_hash, subject).
	ErrInvalidToken = errors.New("sso: invalid id token")
	// ErrUserInfo: the userinfo endpoint, needed for claims missing from
	// the ID token, failed.
	ErrUserInfo = errors.New("sso: userinfo request failed")
	// ErrInvalidPending: the Pending cookie is malformed, tampered with or expired.
	ErrInvalidPending = errors.New("sso: invalid or expired login state")
)

// Config configures a Provider.
type Config struct {
	// Issuer is the provider's issuer URL; discovery reads
	// Issuer + "/.well-known/openid-configuration" and the document's issuer
	// must match it exactly.
	Issuer       string
	ClientID     string
	ClientSecret string // may be empty for a public client (PKCE only)
	// RedirectURL is the callback registered at the provider, e.g.
	// https://helpdesk.example.com/api/v1/auth/sso/callback.
	RedirectURL string
	// Scopes requested; default openid, email, profile. "openid" is always
	// added. Add "groups" for providers that only release the groups claim
	// on that scope (Dex, Okta, Authentik, ...).
	Scopes []string
	// GroupsClaim names the claim holding the user's groups; default
	// "groups". A dotted path ("realm_access.roles") reaches into nested
	// objects when no claim has that literal name.
	GroupsClaim string
	// RoleMapping maps a group to a role (requester, agent, lead, admin).
	// The highest-privilege role of the user's mapped groups wins.
	RoleMapping map[string]string
	// DefaultRole applies when no group is mapped; default requester.
	DefaultRole string
	// HTTPClient talks to the provider (discovery, keys, token, userinfo);
	// default: a client with a 15 s timeout.
	HTTPClient *http.Client
}

// Provider is a configured OpenID Connect relying party. It is safe for
// concurrent use.
type Provider struct {
	cfg      Config
	client   *http.Client
	oidc     *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	now      func() time.Time // clock for ID token expiry; tests override it
}

// Pending is the state of one login between Begin and Finish.
type Pending struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"` // PKCE code verifier
	Created  time.Time `json:"c"`
}

// Identity is the signed-in user as asserted by the provider. Users should
// be keyed by (Issuer, Subject), not by Email.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	Role          string // mapped from Groups, else Config.DefaultRole
}

// New validates c and runs discovery against c.Issuer.
func New(ctx context.Context, c Config) (*Provider, error) {
	if c.Issuer == "" || c.ClientID == "" || c.RedirectURL == "" {
		return nil, errors.New("sso: issuer, client id and redirect url are required")
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	if c.DefaultRole == "" {
		c.DefaultRole = RoleRequester
	}
	if roleRank[c.DefaultRole] == 0 {
		return nil, fmt.Errorf("sso: default role %q: want requester, agent, lead or admin", c.DefaultRole)
	}
	for g, r := range c.RoleMapping {
		if roleRank[r] == 0 {
			return nil, fmt.Errorf("sso: role mapping %q: role %q: want requester, agent, lead or admin", g, r)
		}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	} else if !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		c.Scopes = append([]string{oidc.ScopeOpenID}, c.Scopes...)
	} else {
		c.Scopes = slices.Clone(c.Scopes)
	}
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}

	op, err := oidc.NewProvider(oidc.ClientContext(ctx, client), c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sso: discovery: %w", err)
	}
	p := &Provider{
		cfg:    c,
		client: client,
		oidc:   op,
		oauth: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			RedirectURL:  c.RedirectURL,
			Endpoint:     op.Endpoint(),
			Scopes:       c.Scopes,
		},
		now: time.Now,
	}
	p.verifier = op.Verifier(&oidc.Config{ClientID: c.ClientID, Now: func() time.Time { return p.now() }})
	return p, nil
}

// Begin starts a login: it returns the provider URL to redirect the user to
// and the Pending state to keep (in a signed cookie) until the callback.
func (p *Provider) Begin() (authURL string, state Pending) {
	state = Pending{
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		Created:  time.Now().UTC(),
	}
	authURL = p.oauth.AuthCodeURL(state.State,
		oidc.Nonce(state.Nonce),
		oauth2.S256ChallengeOption(state.Verifier))
	return authURL, state
}

// Finish completes a login from the callback's state and code: it checks the
// state, exchanges the code with the PKCE verifier, verifies the ID token
// (signature, issuer, audience, expiry, nonce), fetches userinfo if the ID
// token lacks email or groups, and maps groups to a role.
func (p *Provider) Finish(ctx context.Context, pending Pending, gotState, code string) (Identity, error) {
	if pending.State == "" || subtle.ConstantTimeCompare([]byte(pending.State), []byte(gotState)) != 1 {
		return Identity{}, ErrStateMismatch
	}
	if code == "" {
		return Identity{}, fmt.Errorf("%w: no authorization code in callback", ErrExchange)
	}
	if pending.Nonce == "" || pending.Verifier == "" {
		return Identity{}, ErrInvalidPending
	}
	ctx = oidc.ClientContext(ctx, p.client)

	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrExchange, err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return Identity{}, fmt.Errorf("%w: token response has no id_token", ErrInvalidToken)
	}
	idt, err := p.verifier.Verify(ctx, rawID)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: nonce mismatch", ErrInvalidToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
	}

	var raw map[string]any
	if err := idt.Claims(&raw); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject}
	groups, haveGroups := p.groups(raw)
	id.Email, id.EmailVerified, id.Name = profile(raw)

	// With an access token, providers may release scope claims (email,
	// profile) and groups only at the userinfo endpoint (OIDC Core 5.4).
	if (id.Email == "" || !haveGroups) && p.oidc.UserInfoEndpoint() != "" && tok.AccessToken != "" {
		ui, err := p.oidc.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrUserInfo, err)
		}
		if subtle.ConstantTimeCompare([]byte(ui.Subject), []byte(idt.Subject)) != 1 {
			return Identity{}, fmt.Errorf("%w: userinfo subject differs from id token subject", ErrInvalidToken)
		}
		var uraw map[string]any
		if err := ui.Claims(&uraw); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrUserInfo, err)
		}
		email, verified, name := profile(uraw)
		if id.Email == "" {
			id.Email, id.EmailVerified = email, verified
		}
		if id.Name == "" {
			id.Name = name
		}
		if !haveGroups {
			groups, _ = p.groups(uraw)
		}
	}
	id.Groups = groups
	id.Role = p.Role(groups)
	return id, nil
}

// Role maps groups to a role: the highest-privilege mapped group wins
// (admin > lead > agent > requester), else Config.DefaultRole.
func (p *Provider) Role(groups []string) string {
	role := ""
	for _, g := range groups {
		if r, ok := p.cfg.RoleMapping[g]; ok && roleRank[r] > roleRank[role] {
			role = r
		}
	}
	if role == "" {
		return p.cfg.DefaultRole
	}
	return role
}

// groups reads the groups claim: a list of strings or a single string, by
// literal name or else by dotted path. ok reports whether the claim exists.
func (p *Provider) groups(claims map[string]any) (groups []string, ok bool) {
	v, ok := claims[p.cfg.GroupsClaim]
	if !ok && strings.Contains(p.cfg.GroupsClaim, ".") {
		var cur any = claims
		ok = true
		for part := range strings.SplitSeq(p.cfg.GroupsClaim, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			if cur, ok = m[part]; !ok {
				break
			}
		}
		v = cur
	}
	if !ok {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		if v != "" {
			groups = []string{v}
		}
	case []any:
		for _, g := range v {
			if s, isStr := g.(string); isStr && s != "" {
				groups = append(groups, s)
			}
		}
	}
	return groups, true
}

// profile reads email, email_verified (bool or "true") and name (falling
// back to preferred_username) from a claim set.
func profile(claims map[string]any) (email string, verified bool, name string) {
	email, _ = claims["email"].(string)
	switch v := claims["email_verified"].(type) {
	case bool:
		verified = v
	case string:
		verified = v == "true"
	}
	name, _ = claims["name"].(string)
	if name == "" {
		name, _ = claims["preferred_username"].(string)
	}
	return email, verified, name
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("sso: crypto/rand: " + err.Error()) // never returns an error (Go 1.24+)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

const pendingMACContext = "helpdesk-sso-pending-v1."

// Encode serializes p as "payload.mac" (base64url, cookie-safe), where mac is
// HMAC-SHA256 under key. The value is signed, not encrypted: it holds the
// PKCE verifier, so send it only in an HttpOnly, Secure cookie.
func (p Pending) Encode(key []byte) (string, error) {
	if len(key) < MinKeyLen {
		return "", fmt.Errorf("sso: cookie key must be at least %d bytes", MinKeyLen)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("sso: encode login state: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(pendingMAC(key, payload)), nil
}

// DecodePending verifies and decodes a value made by Pending.Encode. It
// rejects (ErrInvalidPending) a bad signature, a malformed value and a
// Pending older than maxAge (PendingMaxAge when maxAge <= 0).
func DecodePending(s string, key []byte, maxAge time.Duration) (Pending, error) {
	if len(key) < MinKeyLen {
		return Pending{}, fmt.Errorf("sso: cookie key must be at least %d bytes", MinKeyLen)
	}
	if maxAge <= 0 {
		maxAge = PendingMaxAge
	}
	payload, sig, ok := strings.Cut(s, ".")
	if !ok {
		return Pending{}, fmt.Errorf("%w: malformed", ErrInvalidPending)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, pendingMAC(key, payload)) {
		return Pending{}, fmt.Errorf("%w: bad signature", ErrInvalidPending)
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Pending{}, fmt.Errorf("%w: malformed", ErrInvalidPending)
	}
	var p Pending
	if err := json.Unmarshal(b, &p); err != nil {
		return Pending{}, fmt.Errorf("%w: malformed", ErrInvalidPending)
	}
	if p.State == "" || p.Nonce == "" || p.Verifier == "" || p.Created.IsZero() {
		return Pending{}, fmt.Errorf("%w: incomplete", ErrInvalidPending)
	}
	age := time.Since(p.Created)
	if age > maxAge || age < -time.Minute {
		return Pending{}, fmt.Errorf("%w: expired", ErrInvalidPending)
	}
	return p, nil
}

func pendingMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(pendingMACContext))
	m.Write([]byte(payload))
	return m.Sum(nil)
}
