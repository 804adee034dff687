// Package ssotest runs a real OpenID provider on loopback for tests that
// sign in through single sign-on end to end: zitadel/oidc's op package with
// the in-memory storage and username/password login form of its example
// server, plus a "groups" scope and claim.
package ssotest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is someone who can sign in at the provider.
type User struct {
	ID, Username, Password, FirstName, LastName, Email string
	// EmailUnverified makes the provider say the email is not verified.
	EmailUnverified bool
	Groups          []string
}

// The one web client every provider knows.
const (
	ClientID     = "helpdesk"
	ClientSecret = "helpdesk-test-secret"
)

// Provider is a running OpenID provider.
type Provider struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	srv          *httptest.Server
}

// Close stops the provider.
func (p *Provider) Close() { p.srv.Close() }

type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }
func (u userStore) ExampleClientID() string             { return storage.ServiceUserID }
func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, user := range u {
		if user.Username == name {
			return user
		}
	}
	return nil
}

type opStorage struct {
	*storage.Storage
	groups map[string][]string
}

type groupsClient struct{ op.Client }

func (groupsClient) IsScopeAllowed(scope string) bool { return scope == "groups" }

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return groupsClient{c}, nil
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *zoidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if slices.Contains(scopes, "groups") {
		if g, ok := s.groups[req.GetSubject()]; ok {
			ui.AppendClaims("groups", g)
		}
	}
	return nil
}

// Start runs a provider on 127.0.0.1 with one web client allowed to
// redirect to redirectURL.
func Start(redirectURL string, users []User) *Provider {
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	us := userStore{}
	groups := map[string][]string{}
	for _, u := range users {
		us[u.ID] = &storage.User{ID: u.ID, Username: u.Username, Password: u.Password, FirstName: u.FirstName,
			LastName: u.LastName, Email: u.Email, EmailVerified: !u.EmailUnverified}
		groups[u.ID] = u.Groups
	}
	p := &Provider{Issuer: srv.URL, ClientID: ClientID, ClientSecret: ClientSecret, srv: srv}
	st := &opStorage{Storage: storage.NewStorageWithClients(us, map[string]*storage.Client{
		p.ClientID: storage.WebClient(p.ClientID, p.ClientSecret, redirectURL),
	}), groups: groups}
	handler = exampleop.SetupServer(srv.URL, st, slog.New(slog.DiscardHandler), false)
	return p
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// Login plays the browser at the provider: from the authorization URL
// (where the app's start endpoint redirected) it fills the login form and
// follows redirects with client, returning the final response.
func Login(client *http.Client, authorizeResponse *http.Response, username, password string) (*http.Response, error) {
	body, _ := io.ReadAll(authorizeResponse.Body)
	authorizeResponse.Body.Close()
	m := hiddenID.FindSubmatch(body)
	if authorizeResponse.StatusCode != http.StatusOK || m == nil {
		return nil, fmt.Errorf("ssotest: no login form at %s (%d): %.300s", authorizeResponse.Request.URL, authorizeResponse.StatusCode, body)
	}
	form := url.Values{"id": {string(m[1])}, "username": {username}, "password": {password}}
	target := authorizeResponse.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	return client.PostForm(target.String(), form)
}
