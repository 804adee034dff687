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
	login := func(subject, email, name string, role Role) OIDCLogin {
		return OIDCLogin{Issuer: issuer, Subject: subject, Email: email, EmailVerified: true, Name: name, Role: role}
	}

	t.Run("new user", func(t *testing.T) {
		email := newEmail()
		u, err := svc.UpsertOIDCUser(ctx, login("sub-new", strings.ToUpper(email), "Nia", RoleAgent))
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != email || u.Name != "Nia" || u.Role != RoleAgent || u.RoleSource != RoleSourceSSO {
			t.Fatalf("created %+v", u)
		}
		// No password: password sign-in is refused like any other failure.
		_, err = svc.Authenticate(ctx, email, "", "192.0.2.10")
		wantErr(t, err, ErrInvalidCredentials)

		// Same subject again: same account; the role SSO set follows the
		// provider, up and down.
		again, err := svc.UpsertOIDCUser(ctx, login("sub-new", email, "", RoleLead))
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != u.ID || again.Role != RoleLead || again.Name != "Nia" {
			t.Fatalf("second sign-in %+v, want user %d as lead named Nia", again, u.ID)
		}
		if down, err := svc.UpsertOIDCUser(ctx, login("sub-new", email, "", RoleRequester)); err != nil || down.Role != RoleRequester {
			t.Fatalf("after leaving the leads' group: %+v, %v", down, err)
		}
	})

	t.Run("link by verified email", func(t *testing.T) {
		local := newUser(t, RoleRequester, nil)
		u, err := svc.UpsertOIDCUser(ctx, login("sub-link", strings.ToUpper(local.Email), "Lin", RoleAgent))
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != local.ID || u.Role != RoleAgent || u.RoleSource != RoleSourceSSO {
			t.Fatalf("linked %+v, want user %d as agent from SSO", u, local.ID)
		}
		if again, err := svc.UpsertOIDCUser(ctx, login("sub-link", local.Email, "Lin", RoleAgent)); err != nil || again.ID != local.ID {
			t.Fatalf("after linking: %+v, %v", again, err)
		}
		// Another subject claiming the same email does not take the account.
		_, err = svc.UpsertOIDCUser(ctx, login("sub-intruder", local.Email, "Eve", RoleAdmin))
		wantErr(t, err, ErrConflict)
		if got, err := svc.UserByID(ctx, local.ID); err != nil || got.Role != RoleAgent {
			t.Fatalf("after conflict: %+v, %v", got, err)
		}
	})

	// The attack: an identity whose provider lets anyone type any email
	// claims a local admin's address. Unverified, it is not linked and the
	// account is untouched.
	t.Run("unverified email of an existing account", func(t *testing.T) {
		admin := newUser(t, RoleAdmin, nil)
		in := login("sub-unverified", admin.Email, "Mallory", RoleRequester)
		in.EmailVerified = false
		_, err := svc.UpsertOIDCUser(ctx, in)
		wantErr(t, err, ErrEmailNotVerified)
		var subject *string
		var role string
		if err := testPool.QueryRow(ctx, `SELECT oidc_subject, role FROM users WHERE id = $1`, admin.ID).Scan(&subject, &role); err != nil {
			t.Fatal(err)
		}
		if subject != nil || role != string(RoleAdmin) {
			t.Fatalf("after the attempt the admin is linked to %v as %s", subject, role)
		}
		// An unverified email nobody uses yet makes a new account.
		in = login("sub-unverified-new", newEmail(), "Nora", RoleRequester)
		in.EmailVerified = false
		if u, err := svc.UpsertOIDCUser(ctx, in); err != nil || u.Email != in.Email {
			t.Fatalf("new account from an unverified email: %+v, %v", u, err)
		}
	})

	// The attack: every SSO sign-in re-set the role from the groups, so a
	// local admin linked to SSO was demoted to the default role.
	t.Run("never lowers a role set by hand", func(t *testing.T) {
		admin := newUser(t, RoleAdmin, nil)
		u, err := svc.UpsertOIDCUser(ctx, login("sub-admin", admin.Email, "", RoleRequester))
		if err != nil {
			t.Fatal(err)
		}
		if u.Role != RoleAdmin || u.RoleSource != RoleSourceManual {
			t.Fatalf("local admin after SSO sign-in: %+v", u)
		}
		// A hand-set agent is raised by the leads' group, and falls back
		// to agent — not to requester — when the group goes away.
		agent := newUser(t, RoleAgent, nil)
		if u, err = svc.UpsertOIDCUser(ctx, login("sub-agent", agent.Email, "", RoleLead)); err != nil || u.Role != RoleLead || u.RoleSource != RoleSourceSSO {
			t.Fatalf("raised: %+v, %v", u, err)
		}
		if u, err = svc.UpsertOIDCUser(ctx, login("sub-agent", agent.Email, "", RoleRequester)); err != nil || u.Role != RoleAgent || u.RoleSource != RoleSourceManual {
			t.Fatalf("after leaving the group: %+v, %v", u, err)
		}
		// An admin setting an SSO user's role by hand makes it the floor.
		sso, err := svc.UpsertOIDCUser(ctx, login("sub-floor", newEmail(), "", RoleRequester))
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SetRole(ctx, sso.ID, RoleLead); err != nil {
			t.Fatal(err)
		}
		if u, err = svc.UpsertOIDCUser(ctx, login("sub-floor", sso.Email, "", RoleAgent)); err != nil || u.Role != RoleLead || u.RoleSource != RoleSourceManual {
			t.Fatalf("after SetRole: %+v, %v", u, err)
		}
	})

	t.Run("validation", func(t *testing.T) {
		_, err := svc.UpsertOIDCUser(ctx, login("", newEmail(), "", RoleAgent))
		wantField(t, err, "subject")
		_, err = svc.UpsertOIDCUser(ctx, login("sub-x", "not-an-email", "", RoleAgent))
		wantField(t, err, "email")
		_, err = svc.UpsertOIDCUser(ctx, login("sub-x", newEmail(), "", ""))
		wantField(t, err, "role")
	})
}

func TestSSORole(t *testing.T) {
	r := func(role Role) *Role { return &role }
	for _, tc := range []struct {
		manual     *Role
		mapped     Role
		want       Role
		wantSource string
	}{
		{nil, RoleRequester, RoleRequester, RoleSourceSSO},
		{nil, RoleAdmin, RoleAdmin, RoleSourceSSO},
		{r(RoleAdmin), RoleRequester, RoleAdmin, RoleSourceManual},
		{r(RoleAgent), RoleAgent, RoleAgent, RoleSourceManual},
		{r(RoleAgent), RoleLead, RoleLead, RoleSourceSSO},
		{r(RoleLead), RoleAgent, RoleLead, RoleSourceManual},
		{r(RoleRequester), RoleAdmin, RoleAdmin, RoleSourceSSO},
	} {
		got, source := ssoRole(tc.manual, tc.mapped)
		if got != tc.want || source != tc.wantSource {
			t.Errorf("ssoRole(%v, %s) = %s, %s; want %s, %s", tc.manual, tc.mapped, got, source, tc.want, tc.wantSource)
		}
	}
}
