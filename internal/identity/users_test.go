package identity

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestCreateUser(t *testing.T) {
	ctx := context.Background()
	email := newEmail()
	u, err := svc.CreateUser(ctx, NewUser{Email: "  " + strings.ToUpper(email) + " ", Name: " Alice ", Role: RoleAgent, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != email || u.Name != "Alice" || u.Role != RoleAgent || u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("created %+v", u)
	}
	got, err := svc.UserByEmail(ctx, strings.ToUpper(email))
	if err != nil || got != u {
		t.Fatalf("UserByEmail = %+v, %v; want %+v", got, err, u)
	}
	if got, err := svc.UserByID(ctx, u.ID); err != nil || got != u {
		t.Fatalf("UserByID = %+v, %v", got, err)
	}

	_, err = svc.CreateUser(ctx, NewUser{Email: strings.ToUpper(email[:4]) + email[4:], Role: RoleRequester})
	wantErr(t, err, ErrConflict)
	_, err = svc.UserByID(ctx, -1)
	wantErr(t, err, ErrNotFound)
	_, err = svc.UserByEmail(ctx, "nobody@example.test")
	wantErr(t, err, ErrNotFound)

	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"id"`, `"email"`, `"name"`, `"role"`, `"organization_id"`, `"created_at"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
	if strings.Contains(string(b), "argon2") || strings.Contains(strings.ToLower(string(b)), "password") {
		t.Errorf("JSON %s exposes the password", b)
	}
}

func TestCreateUserValidation(t *testing.T) {
	ctx := context.Background()
	missingOrg := int64(-5)
	for _, tc := range []struct {
		name  string
		in    NewUser
		field string
	}{
		{"no email", NewUser{Role: RoleAgent}, "email"},
		{"not an address", NewUser{Email: "alice", Role: RoleAgent}, "email"},
		{"display name", NewUser{Email: "Alice <alice@example.test>", Role: RoleAgent}, "email"},
		{"two addresses", NewUser{Email: "a@example.test, b@example.test", Role: RoleAgent}, "email"},
		{"short password", NewUser{Email: newEmail(), Role: RoleAgent, Password: "1234567"}, "password"},
		{"no role", NewUser{Email: newEmail()}, "role"},
		{"unknown role", NewUser{Email: newEmail(), Role: "root"}, "role"},
		{"unknown organization", NewUser{Email: newEmail(), Role: RoleRequester, OrganizationID: &missingOrg}, "organization_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateUser(ctx, tc.in)
			wantField(t, err, tc.field)
		})
	}
	// SSO users have no password; eight characters is enough.
	if _, err := svc.CreateUser(ctx, NewUser{Email: newEmail(), Role: RoleRequester}); err != nil {
		t.Errorf("user without password: %v", err)
	}
	if _, err := svc.CreateUser(ctx, NewUser{Email: newEmail(), Role: RoleRequester, Password: "12345678"}); err != nil {
		t.Errorf("8-character password: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"requester": RoleRequester, " Agent ": RoleAgent, "LEAD": RoleLead, "admin": RoleAdmin} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "superuser", "admins"} {
		if _, err := ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) accepted", in)
		}
	}
}

func TestListUsers(t *testing.T) {
	ctx := context.Background()
	a, b, c := newUser(t, RoleAgent, nil), newUser(t, RoleAgent, nil), newUser(t, RoleAgent, nil)
	page, err := svc.ListUsers(ctx, 2, a.ID-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ID != a.ID || page[1].ID != b.ID {
		t.Fatalf("first page = %+v", page)
	}
	page, err = svc.ListUsers(ctx, 2, page[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) == 0 || page[0].ID != c.ID {
		t.Fatalf("second page = %+v, want it to start with %d", page, c.ID)
	}
}

func TestCreateOrganization(t *testing.T) {
	ctx := context.Background()
	o, err := svc.CreateOrganization(ctx, "Initech", true)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.OrganizationByID(ctx, o.ID); err != nil || got != o {
		t.Fatalf("OrganizationByID = %+v, %v; want %+v", got, err, o)
	}
	_, err = svc.CreateOrganization(ctx, "Initech", false)
	wantErr(t, err, ErrConflict)
	_, err = svc.CreateOrganization(ctx, " ", false)
	wantField(t, err, "name")
}

func TestUpsertOIDCUser(t *testing.T) {
	ctx := context.Background()
	const issuer = "https://sso.example.test"

	t.Run("new user", func(t *testing.T) {
		email := newEmail()
		u, err := svc.UpsertOIDCUser(ctx, issuer, "sub-new", strings.ToUpper(email), "Nia", RoleAgent)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != email || u.Name != "Nia" || u.Role != RoleAgent {
			t.Fatalf("created %+v", u)
		}
		// No password: password sign-in is refused like any other failure.
		_, err = svc.Authenticate(ctx, email, "", "192.0.2.10")
		wantErr(t, err, ErrInvalidCredentials)

		// Same subject again: same account, role follows the provider.
		again, err := svc.UpsertOIDCUser(ctx, issuer, "sub-new", email, "", RoleLead)
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != u.ID || again.Role != RoleLead || again.Name != "Nia" {
			t.Fatalf("second sign-in %+v, want user %d as lead named Nia", again, u.ID)
		}
	})

	t.Run("link by email", func(t *testing.T) {
		local := newUser(t, RoleRequester, nil)
		u, err := svc.UpsertOIDCUser(ctx, issuer, "sub-link", strings.ToUpper(local.Email), "Lin", RoleAgent)
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != local.ID || u.Role != RoleAgent {
			t.Fatalf("linked %+v, want user %d as agent", u, local.ID)
		}
		if again, err := svc.UpsertOIDCUser(ctx, issuer, "sub-link", local.Email, "Lin", RoleAgent); err != nil || again.ID != local.ID {
			t.Fatalf("after linking: %+v, %v", again, err)
		}
		// Another subject claiming the same email does not take the account.
		_, err = svc.UpsertOIDCUser(ctx, issuer, "sub-intruder", local.Email, "Eve", RoleAdmin)
		wantErr(t, err, ErrConflict)
		if got, err := svc.UserByID(ctx, local.ID); err != nil || got.Role != RoleAgent {
			t.Fatalf("after conflict: %+v, %v", got, err)
		}
	})

	t.Run("validation", func(t *testing.T) {
		_, err := svc.UpsertOIDCUser(ctx, issuer, "", newEmail(), "", RoleAgent)
		wantField(t, err, "subject")
		_, err = svc.UpsertOIDCUser(ctx, issuer, "sub-x", "not-an-email", "", RoleAgent)
		wantField(t, err, "email")
		_, err = svc.UpsertOIDCUser(ctx, issuer, "sub-x", newEmail(), "", "")
		wantField(t, err, "role")
	})
}
