package identity

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestTeams(t *testing.T) {
	ctx := context.Background()
	a1, a2 := newUser(t, RoleAgent, nil), newUser(t, RoleAgent, nil)
	lead := newUser(t, RoleLead, nil)
	requester := newUser(t, RoleRequester, nil)

	billing, err := svc.CreateTeam(ctx, " Billing ", &lead.ID, []int64{a1.ID, a1.ID})
	if err != nil {
		t.Fatal(err)
	}
	if billing.Name != "Billing" || *billing.LeadID != lead.ID || !slices.Equal(billing.MemberIDs, []int64{a1.ID}) {
		t.Fatalf("created %+v", billing)
	}
	empty, err := svc.CreateTeam(ctx, "Hardware", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if empty.MemberIDs == nil || len(empty.MemberIDs) != 0 {
		t.Errorf("empty team's members %#v, want []", empty.MemberIDs)
	}

	_, err = svc.CreateTeam(ctx, "BILLING", nil, nil)
	wantErr(t, err, ErrConflict)
	_, err = svc.CreateTeam(ctx, "Sales", nil, []int64{a1.ID, requester.ID})
	wantField(t, err, "member_ids")
	_, err = svc.CreateTeam(ctx, "Sales", &requester.ID, nil)
	wantField(t, err, "lead_id")
	_, err = svc.CreateTeam(ctx, "", nil, nil)
	wantField(t, err, "name")

	if err := svc.AddMember(ctx, billing.ID, a2.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddMember(ctx, billing.ID, a2.ID); err != nil {
		t.Errorf("adding twice: %v", err)
	}
	wantField(t, svc.AddMember(ctx, billing.ID, requester.ID), "user_id")
	wantErr(t, svc.AddMember(ctx, -1, a2.ID), ErrNotFound)
	got, err := svc.TeamByID(ctx, billing.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.MemberIDs, []int64{a1.ID, a2.ID}) {
		t.Errorf("members %v, want %v", got.MemberIDs, []int64{a1.ID, a2.ID})
	}
	_, err = svc.TeamByID(ctx, -1)
	wantErr(t, err, ErrNotFound)

	teams, err := svc.ListTeams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(teams, func(x Team) bool { return x.ID == billing.ID && len(x.MemberIDs) == 2 }) ||
		!slices.ContainsFunc(teams, func(x Team) bool { return x.ID == empty.ID }) {
		t.Errorf("ListTeams = %+v", teams)
	}

	if err := svc.AddMember(ctx, empty.ID, a1.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user User
		want []int64
	}{
		{a1, []int64{billing.ID, empty.ID}},
		{a2, []int64{billing.ID}},
		{lead, []int64{billing.ID}}, // leads without being a member
		{requester, nil},
	} {
		ids, err := svc.TeamsOf(ctx, tc.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("TeamsOf(%s) = %v, want %v", tc.user.Email, ids, tc.want)
		}
	}

	// The principal carries teams and led teams.
	secret, _, err := svc.CreateSession(ctx, lead.ID, "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.SessionPrincipal(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.TeamIDs, []int64{billing.ID}) || !slices.Equal(p.LeadOf, []int64{billing.ID}) {
		t.Errorf("lead principal teams %v, lead of %v", p.TeamIDs, p.LeadOf)
	}

	if err := svc.RemoveMember(ctx, billing.ID, a2.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, svc.RemoveMember(ctx, billing.ID, a2.ID), ErrNotFound)
	if ids, err := svc.TeamsOf(ctx, a2.ID); err != nil || len(ids) != 0 {
		t.Errorf("TeamsOf after removal = %v, %v", ids, err)
	}
}
