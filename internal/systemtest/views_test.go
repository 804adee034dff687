package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk/helpdesk/internal/audit"
	"github.com/helpdesk/helpdesk/internal/identity"
)

// Saved views and the user's time zone (issue 20): docs/views.md.

// viewJSON is one view as the API answers it.
type viewJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Query      string `json:"query"`
	Sort       string `json:"sort"`
	Visibility string `json:"visibility"`
	TeamID     *int64 `json:"team_id"`
	OwnerID    *int64 `json:"owner_id"`
	Position   int    `json:"position"`
	Builtin    bool   `json:"builtin"`
	Editable   bool   `json:"editable"`
	Deletable  bool   `json:"deletable"`
}

// viewProblem is a problem with the field errors' positions.
type viewProblem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field    string `json:"field"`
		Detail   string `json:"detail"`
		Position *int   `json:"position"`
	} `json:"errors"`
}

func listViews(t *testing.T, s *session) []viewJSON {
	t.Helper()
	res := s.do(t, "GET", "/api/v1/views", "")
	mustStatus(t, res, http.StatusOK, s.email+" listing views")
	var out struct{ Items []viewJSON }
	res.decode(t, &out)
	return out.Items
}

func findView(vs []viewJSON, id string) *viewJSON {
	for i := range vs {
		if vs[i].ID == id {
			return &vs[i]
		}
	}
	return nil
}

// saveView POSTs a view as s and returns it; want is the status expected.
func saveView(t *testing.T, s *session, body string, want int) (viewJSON, response) {
	t.Helper()
	res := s.do(t, "POST", "/api/v1/views", body)
	mustStatus(t, res, want, s.email+" saving "+body)
	var v viewJSON
	if want == http.StatusCreated {
		res.decode(t, &v)
		if loc := res.header.Get("Location"); loc != "/api/v1/views/"+v.ID {
			t.Errorf("Location %q for view %s", loc, v.ID)
		}
	}
	return v, res
}

func teamID(t *testing.T, name string) int64 {
	t.Helper()
	teams, err := env.ident.ListTeams(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range teams {
		if tm.Name == name {
			return tm.ID
		}
	}
	t.Fatalf("no team %q", name)
	return 0
}

// uniqueName is a view name no other test (or run of the matrix) uses.
func uniqueName(what string) string { return fmt.Sprintf("%s %d", what, time.Now().UnixNano()) }

// groupOf orders the list: built-ins, personal, team, everyone.
func groupOf(v viewJSON) int {
	if v.Builtin {
		return 0
	}
	return map[string]int{"personal": 1, "team": 2, "everyone": 3}[v.Visibility]
}

// Every staff member has the built-in views, first and read-only;
// requesters have no views at all.
func TestBuiltinViews(t *testing.T) {
	agent := login(t, "agent@example.com", testPassword)
	vs := listViews(t, agent)
	want := []string{"builtin:my-open", "builtin:unassigned", "builtin:breaching", "builtin:escalated", "builtin:recent"}
	if len(vs) < len(want) {
		t.Fatalf("%d views, want at least the %d built-ins", len(vs), len(want))
	}
	for i, id := range want {
		v := vs[i]
		if v.ID != id || !v.Builtin || v.Editable || v.Deletable || v.OwnerID != nil || v.Visibility != "everyone" || v.Query == "" {
			t.Errorf("view %d = %+v, want the built-in %s, read-only", i, v, id)
		}
	}
	if my := vs[0]; my.Name != "My open" || my.Query != "assignee:me status:open,in_progress,pending" || my.Sort != "urgency" {
		t.Errorf("My open = %+v", my)
	}
	res := agent.do(t, "GET", "/api/v1/views/builtin:breaching", "")
	mustStatus(t, res, http.StatusOK, "reading a built-in view")
	var b viewJSON
	res.decode(t, &b)
	if b.Name != "Breaching within 2h" || b.Query != "due:<2h status:open,in_progress,pending" || b.Sort != "urgency" {
		t.Errorf("Breaching within 2h = %+v", b)
	}
	mustStatus(t, agent.do(t, "PATCH", "/api/v1/views/builtin:my-open", `{"name":"Mine"}`), http.StatusForbidden, "renaming a built-in view")
	mustStatus(t, agent.do(t, "DELETE", "/api/v1/views/builtin:my-open", ""), http.StatusForbidden, "deleting a built-in view")
	mustStatus(t, agent.do(t, "GET", "/api/v1/views/builtin:nope", ""), http.StatusNotFound, "an unknown built-in")

	requester := login(t, "requester@example.com", testPassword)
	mustStatus(t, requester.do(t, "GET", "/api/v1/views", ""), http.StatusForbidden, "a requester listing views")
	mustStatus(t, requester.do(t, "POST", "/api/v1/views", `{"name":"mine","query":"printer"}`), http.StatusForbidden, "a requester saving a view")
}

// A personal view is its owner's alone: nobody else lists it, and to
// anyone else its id is a view that does not exist (404, not 403), for
// reading, changing and deleting, admins included.
func TestPersonalViewsAreInvisibleToOthers(t *testing.T) {
	agent := login(t, "agent@example.com", testPassword)
	name := uniqueName("Printers")
	v, _ := saveView(t, agent, fmt.Sprintf(`{"name":%q,"query":"printer status:open","sort":"-updated"}`, name), http.StatusCreated)
	if v.Name != name || v.Query != "printer status:open" || v.Sort != "-updated" || v.Visibility != "personal" ||
		v.TeamID != nil || v.OwnerID == nil || *v.OwnerID != env.users["agent"].ID || v.Builtin || !v.Editable || !v.Deletable {
		t.Fatalf("saved view = %+v", v)
	}
	mine := listViews(t, agent)
	if got := findView(mine, v.ID); got == nil || got.Name != name {
		t.Fatalf("the owner does not list their view %s", v.ID)
	}
	for i := 1; i < len(mine); i++ {
		if groupOf(mine[i-1]) > groupOf(mine[i]) {
			t.Errorf("list out of order: %q (%s) before %q (%s)", mine[i-1].Name, mine[i-1].Visibility, mine[i].Name, mine[i].Visibility)
		}
	}

	path := "/api/v1/views/" + v.ID
	missing := agent.do(t, "GET", "/api/v1/views/999999999", "")
	mustStatus(t, missing, http.StatusNotFound, "a view that does not exist")
	for _, who := range []string{"agent2@example.com", "lead@example.com", "admin@example.com"} {
		other := login(t, who, testPassword)
		if findView(listViews(t, other), v.ID) != nil {
			t.Errorf("%s lists %s's personal view", who, agent.email)
		}
		res := other.do(t, "GET", path, "")
		mustStatus(t, res, http.StatusNotFound, who+" reading someone's personal view")
		var p1, p2 problem
		res.decode(t, &p1)
		missing.decode(t, &p2)
		if p1.Type != p2.Type || p1.Title != p2.Title || p1.Detail != p2.Detail {
			t.Errorf("someone's view answers %+v, a missing one %+v", p1, p2)
		}
		mustStatus(t, other.do(t, "PATCH", path, `{"name":"mine now"}`), http.StatusNotFound, who+" renaming someone's personal view")
		mustStatus(t, other.do(t, "DELETE", path, ""), http.StatusNotFound, who+" deleting someone's personal view")
	}
	entries, _, err := env.audit.Find(context.Background(), audit.Query{Actor: "agent2@example.com", Action: "view.*", Result: audit.ResultDenied, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e audit.Entry) bool { return e.Object == "view:"+v.ID && e.Detail["reason"] == "view not visible" }) {
		t.Errorf("agent2's attempts on view %s are not in the audit log as denied", v.ID)
	}

	res := agent.do(t, "PATCH", path, `{"query":"printer status:open,pending","position":3}`)
	mustStatus(t, res, http.StatusOK, "the owner changing their view")
	var changed viewJSON
	res.decode(t, &changed)
	if changed.Query != "printer status:open,pending" || changed.Position != 3 || changed.Name != name || changed.Sort != "-updated" {
		t.Errorf("after PATCH: %+v", changed)
	}
	mustStatus(t, agent.do(t, "DELETE", path, ""), http.StatusNoContent, "the owner deleting their view")
	mustStatus(t, agent.do(t, "GET", path, ""), http.StatusNotFound, "a deleted view")
}

// A lead shares a view with the team they lead: its agents list it
// (read-only), other teams' agents do not; the lead may not share with
// another team or with everyone, nor may an agent share at all. An admin
// shares with everyone and with any team.
func TestSharingViews(t *testing.T) {
	lead := login(t, "lead@example.com", testPassword)
	agent := login(t, "agent@example.com", testPassword)   // Support
	agent2 := login(t, "agent2@example.com", testPassword) // Finance
	admin := login(t, "admin@example.com", testPassword)
	support, finance := teamID(t, "Support"), teamID(t, "Finance")

	shared, _ := saveView(t, lead, fmt.Sprintf(`{"name":%q,"query":"team:Support status:open","visibility":"team","team_id":%d}`, uniqueName("Support queue"), support), http.StatusCreated)
	if shared.Visibility != "team" || shared.TeamID == nil || *shared.TeamID != support || !shared.Editable {
		t.Fatalf("team view = %+v", shared)
	}
	path := "/api/v1/views/" + shared.ID
	if got := findView(listViews(t, agent), shared.ID); got == nil || got.Editable || got.Deletable {
		t.Errorf("a Support agent's list has the team view as %+v, want it read-only", got)
	}
	if findView(listViews(t, agent2), shared.ID) != nil {
		t.Error("a Finance agent lists Support's view")
	}
	mustStatus(t, agent2.do(t, "GET", path, ""), http.StatusNotFound, "a Finance agent reading Support's view")
	if got := findView(listViews(t, admin), shared.ID); got == nil || !got.Editable {
		t.Errorf("the admin's list has the team view as %+v, want it editable", got)
	}
	mustStatus(t, agent.do(t, "PATCH", path, `{"name":"taken over"}`), http.StatusForbidden, "a team's agent renaming the team's view")
	mustStatus(t, agent.do(t, "DELETE", path, ""), http.StatusForbidden, "a team's agent deleting the team's view")
	mustStatus(t, lead.do(t, "PATCH", path, `{"query":"team:Support status:open,pending"}`), http.StatusOK, "the lead changing the team's view")

	// Where the lead may not share.
	mustStatus(t, lead.do(t, "PATCH", path, fmt.Sprintf(`{"team_id":%d}`, finance)), http.StatusForbidden, "the lead moving the view to a team they do not lead")
	mustStatus(t, lead.do(t, "PATCH", path, `{"visibility":"everyone"}`), http.StatusForbidden, "the lead sharing with everyone")
	saveView(t, lead, fmt.Sprintf(`{"name":%q,"query":"","visibility":"team","team_id":%d}`, uniqueName("Finance"), finance), http.StatusForbidden)
	saveView(t, lead, fmt.Sprintf(`{"name":%q,"query":"","visibility":"everyone"}`, uniqueName("All")), http.StatusForbidden)
	saveView(t, lead, fmt.Sprintf(`{"name":%q,"query":"","visibility":"team"}`, uniqueName("No team")), http.StatusUnprocessableEntity)
	// Agents keep personal views only.
	saveView(t, agent, fmt.Sprintf(`{"name":%q,"query":"","visibility":"team","team_id":%d}`, uniqueName("Mine"), support), http.StatusForbidden)
	saveView(t, agent, fmt.Sprintf(`{"name":%q,"query":"","visibility":"everyone"}`, uniqueName("Mine")), http.StatusForbidden)
	personal, _ := saveView(t, agent, fmt.Sprintf(`{"name":%q,"query":"printer"}`, uniqueName("Mine")), http.StatusCreated)
	mustStatus(t, agent.do(t, "PATCH", "/api/v1/views/"+personal.ID, fmt.Sprintf(`{"visibility":"team","team_id":%d}`, support)), http.StatusForbidden, "an agent sharing their view")

	// The admin shares with everyone, and with a team they are not in.
	everyone, _ := saveView(t, admin, fmt.Sprintf(`{"name":%q,"query":"breached:true","sort":"urgency","visibility":"everyone"}`, uniqueName("Breached")), http.StatusCreated)
	financeView, _ := saveView(t, admin, fmt.Sprintf(`{"name":%q,"query":"team:Finance","visibility":"team","team_id":%d}`, uniqueName("Finance"), finance), http.StatusCreated)
	for _, s := range []*session{agent, agent2, lead} {
		got := findView(listViews(t, s), everyone.ID)
		if got == nil || got.Editable {
			t.Errorf("%s lists the view shared with everyone as %+v, want it read-only", s.email, got)
		}
	}
	if findView(listViews(t, agent2), financeView.ID) == nil {
		t.Error("a Finance agent does not list the admin's Finance view")
	}
	if findView(listViews(t, agent), financeView.ID) != nil || findView(listViews(t, lead), financeView.ID) != nil {
		t.Error("Support lists the admin's Finance view")
	}
	mustStatus(t, lead.do(t, "PATCH", "/api/v1/views/"+everyone.ID, `{"name":"mine"}`), http.StatusForbidden, "a lead renaming a view shared with everyone")
	// The admin may change the lead's view, but not hide it in the lead's
	// personal list.
	mustStatus(t, admin.do(t, "PATCH", path, `{"visibility":"personal"}`), http.StatusForbidden, "an admin making a lead's view personal")
	mustStatus(t, admin.do(t, "PATCH", path, `{"position":1}`), http.StatusOK, "an admin changing a lead's team view")

	// Changes are in the audit log with the view and its audience.
	mustStatus(t, lead.do(t, "DELETE", path, ""), http.StatusNoContent, "the lead deleting the team's view")
	for _, action := range []string{"view.create", "view.update", "view.delete"} {
		entries, _, err := env.audit.Find(context.Background(), audit.Query{Actor: "lead@example.com", Action: action, Result: audit.ResultAllowed, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(entries, func(e audit.Entry) bool {
			v, _ := e.Detail["view"].(map[string]any)
			return e.Object == "view:"+shared.ID && v["visibility"] == "team" && fmt.Sprint(v["team_id"]) == fmt.Sprint(support)
		}) {
			t.Errorf("no %s entry for view %s with its team", action, shared.ID)
		}
	}
	entries, _, err := env.audit.Find(context.Background(), audit.Query{Actor: "lead@example.com", Action: "view.update", Result: audit.ResultDenied, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e audit.Entry) bool { return e.Object == "view:"+shared.ID }) {
		t.Errorf("the lead's refused sharing of view %s is not in the audit log", shared.ID)
	}
}

// What is wrong with a view is 422 naming the field; a query that does not
// parse names the parser's position (in the detail and as "position").
func TestViewValidation(t *testing.T) {
	agent := login(t, "agent@example.com", testPassword)
	admin := login(t, "admin@example.com", testPassword)
	invalid := func(s *session, method, path, body, field string) viewProblem {
		t.Helper()
		res := s.do(t, method, path, body)
		mustStatus(t, res, http.StatusUnprocessableEntity, fmt.Sprintf("%s %.80s", method, body))
		var p viewProblem
		res.decode(t, &p)
		for _, e := range p.Errors {
			if e.Field == field {
				return p
			}
		}
		t.Fatalf("%.80s: no error on %s: %s", body, field, res.body)
		return p
	}
	queryError := func(p viewProblem) (string, *int) {
		for _, e := range p.Errors {
			if e.Field == "query" {
				return e.Detail, e.Position
			}
		}
		return "", nil
	}

	p := invalid(agent, "POST", "/api/v1/views", `{"name":"Typo","query":"printer stauts:open"}`, "query")
	if detail, pos := queryError(p); pos == nil || *pos != 8 || !strings.Contains(detail, "position 8") || !strings.Contains(detail, `unknown field "stauts"`) {
		t.Errorf("unknown field: %q at %v, want position 8", detail, pos)
	}
	// A 3 KB query: refused where it passes the limit, not stored.
	long := strings.Repeat("printer ", 384)
	p = invalid(agent, "POST", "/api/v1/views", fmt.Sprintf(`{"name":"Long","query":%q}`, long), "query")
	if detail, pos := queryError(p); pos == nil || *pos != 2048 || !strings.Contains(detail, "longer than 2048 bytes") {
		t.Errorf("3 KB query: %q at %v", detail, pos)
	}
	// A huge name is refused without being echoed back.
	huge := strings.Repeat("N", 200_000)
	res := agent.do(t, "POST", "/api/v1/views", fmt.Sprintf(`{"name":%q,"query":"printer"}`, huge))
	mustStatus(t, res, http.StatusUnprocessableEntity, "a 200 KB name")
	if len(res.body) > 2000 || !strings.Contains(string(res.body), "longer than 100 characters") {
		t.Errorf("a 200 KB name answers %d bytes: %.300s", len(res.body), res.body)
	}
	invalid(agent, "POST", "/api/v1/views", fmt.Sprintf(`{"name":%q}`, strings.Repeat("é", 101)), "name")
	invalid(agent, "POST", "/api/v1/views", `{"query":"printer"}`, "name")
	invalid(agent, "POST", "/api/v1/views", `{"name":"  "}`, "name")
	invalid(agent, "POST", "/api/v1/views", `{"name":"x","sort":"newest"}`, "sort")
	invalid(agent, "POST", "/api/v1/views", `{"name":"x","sort":null}`, "sort")
	invalid(agent, "POST", "/api/v1/views", `{"name":"x","visibility":"public"}`, "visibility")
	invalid(agent, "POST", "/api/v1/views", `{"name":"x","position":-1}`, "position")
	invalid(agent, "POST", "/api/v1/views", `{"name":"x","query":["a"]}`, "query")
	invalid(agent, "POST", "/api/v1/views", `{"name":"x","owner_id":1}`, "owner_id")
	invalid(admin, "POST", "/api/v1/views", `{"name":"x","visibility":"team","team_id":987654321}`, "team_id")

	// Names are unique per owner, in any case; another owner may reuse one.
	name := uniqueName("Same")
	v, _ := saveView(t, agent, fmt.Sprintf(`{"name":%q,"query":"printer"}`, name), http.StatusCreated)
	invalid(agent, "POST", "/api/v1/views", fmt.Sprintf(`{"name":%q}`, strings.ToUpper(name)), "name")
	saveView(t, admin, fmt.Sprintf(`{"name":%q}`, name), http.StatusCreated)
	other, _ := saveView(t, agent, fmt.Sprintf(`{"name":%q}`, uniqueName("Other")), http.StatusCreated)
	invalid(agent, "PATCH", "/api/v1/views/"+other.ID, fmt.Sprintf(`{"name":%q}`, name), "name")
	p = invalid(agent, "PATCH", "/api/v1/views/"+v.ID, `{"query":"status:opne"}`, "query")
	if _, pos := queryError(p); pos == nil || *pos != 0 {
		t.Errorf("PATCH with a bad status: position %v, want 0", pos)
	}
	res = agent.do(t, "GET", "/api/v1/views/"+v.ID, "")
	var kept viewJSON
	res.decode(t, &kept)
	if kept.Query != "printer" || kept.Name != name {
		t.Errorf("refused changes changed the view: %+v", kept)
	}
	// Ids that are not ids are views that do not exist.
	for _, id := range []string{"abc", "-1", "0", "1e3", "99999999999999999999", "builtin:", "%20"} {
		mustStatus(t, agent.do(t, "GET", "/api/v1/views/"+id, ""), http.StatusNotFound, "view id "+id)
	}
}

// meJSON is GET and PATCH /me.
type meJSON struct {
	User struct {
		ID       int64   `json:"id"`
		TimeZone *string `json:"time_zone"`
	} `json:"user"`
	TimeZone        string `json:"time_zone"`
	TimeZoneDefault bool   `json:"time_zone_default"`
}

// sessionCall calls base with s's cookies and CSRF token (s signed in on
// the shared API; base may be another process on the same database).
func sessionCall(t *testing.T, s *session, base, method, path, body string) (int, meJSON) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", sessionCookieName+"="+s.cookie(sessionCookieName)+"; "+csrfCookieName+"="+s.csrf)
	req.Header.Set("X-CSRF-Token", s.csrf)
	res, err := env.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var me meJSON
	_ = json.NewDecoder(res.Body).Decode(&me)
	return res.StatusCode, me
}

// A user chooses a time zone and sees it on /me, on every API process;
// null goes back to the default (the business calendar's zone); names
// that are not IANA zones are refused naming time_zone.
func TestTimeZoneRoundTrip(t *testing.T) {
	email := fmt.Sprintf("tz-%d@example.com", time.Now().UnixNano())
	if _, err := env.ident.CreateUser(context.Background(), identity.NewUser{Email: email, Name: "Zoned", Role: identity.RoleAgent, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	s := login(t, email, testPassword)
	other := cachedAPI(t) // another process, whose principal cache has the session
	status, me := sessionCall(t, s, env.baseURL, "GET", "/api/v1/me", "")
	if status != http.StatusOK || !me.TimeZoneDefault || me.User.TimeZone != nil || me.TimeZone == "" {
		t.Fatalf("before: %d %+v", status, me)
	}
	defaultZone := me.TimeZone
	for range 2 { // the second is served from the other process's cache
		if status, me := sessionCall(t, s, other, "GET", "/api/v1/me", ""); status != http.StatusOK || me.TimeZone != defaultZone {
			t.Fatalf("before, other process: %d %+v", status, me)
		}
	}

	status, me = sessionCall(t, s, env.baseURL, "PATCH", "/api/v1/me", `{"time_zone":"Pacific/Auckland"}`)
	if status != http.StatusOK || me.TimeZone != "Pacific/Auckland" || me.TimeZoneDefault || me.User.TimeZone == nil || *me.User.TimeZone != "Pacific/Auckland" {
		t.Fatalf("PATCH: %d %+v", status, me)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, me := sessionCall(t, s, other, "GET", "/api/v1/me", "")
		if me.TimeZone == "Pacific/Auckland" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other process still answers time zone %q", me.TimeZone)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, bad := range []string{`""`, `"Local"`, `"Mars/Olympus_Mons"`, `"pacific/auckland"`, `12`, `{"name":"UTC"}`, fmt.Sprintf("%q", strings.Repeat("Europe/", 5000))} {
		res := s.do(t, "PATCH", "/api/v1/me", `{"time_zone":`+bad+`}`)
		mustStatus(t, res, http.StatusUnprocessableEntity, "time zone "+bad[:min(len(bad), 40)])
		var p viewProblem
		res.decode(t, &p)
		if len(p.Errors) != 1 || p.Errors[0].Field != "time_zone" || len(res.body) > 2000 {
			t.Errorf("time zone %.40s: %.300s", bad, res.body)
		}
	}
	mustStatus(t, s.do(t, "PATCH", "/api/v1/me", `{"timezone":"UTC"}`), http.StatusUnprocessableEntity, "an unknown member")
	if _, me := sessionCall(t, s, env.baseURL, "GET", "/api/v1/me", ""); me.TimeZone != "Pacific/Auckland" {
		t.Errorf("refused zones changed the user's: %+v", me)
	}

	status, me = sessionCall(t, s, env.baseURL, "PATCH", "/api/v1/me", `{"time_zone":null}`)
	if status != http.StatusOK || !me.TimeZoneDefault || me.TimeZone != defaultZone || me.User.TimeZone != nil {
		t.Fatalf("reset: %d %+v", status, me)
	}
	entries, _, err := env.audit.Find(context.Background(), audit.Query{Actor: email, Action: "self.update", Result: audit.ResultAllowed, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e audit.Entry) bool { return e.Detail["time_zone"] == "Pacific/Auckland" }) {
		t.Error("the time zone change is not in the audit log")
	}
}
