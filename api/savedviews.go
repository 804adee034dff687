package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/savedview"
	"github.com/helpdesk/helpdesk/internal/store"
)

// Saved views (issue 20): a name, a query in the search language and a
// sort, kept by staff for themselves, shared by leads with the teams they
// lead and by admins with any team or everyone; plus the built-in views
// every staff member has. Who may see, share, change and delete which
// view is internal/savedview's rule; a view the caller may not see is 404,
// like one that does not exist, so ids tell nobody what others keep.
// docs/views.md.

// viewAnswer is one view as GET/POST/PATCH /views answer it.
type viewAnswer struct {
	// ID is a string: a stored view's number ("42") or a built-in's
	// "builtin:<key>".
	ID         string `json:"id"`
	Name       string `json:"name"`
	Query      string `json:"query"`
	Sort       string `json:"sort"`
	Visibility string `json:"visibility"`
	TeamID     *int64 `json:"team_id"`
	// OwnerID is null for built-in views.
	OwnerID  *int64 `json:"owner_id"`
	Position int    `json:"position"`
	Builtin  bool   `json:"builtin"`
	// Editable: the caller may PATCH it; Deletable: may DELETE it.
	Editable  bool       `json:"editable"`
	Deletable bool       `json:"deletable"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

func builtinAnswer(b savedview.Builtin) viewAnswer {
	return viewAnswer{ID: b.ID(), Name: b.Name, Query: b.Query, Sort: b.Sort, Visibility: string(savedview.Everyone), Builtin: true}
}

// viewCaller is the request's principal as the view rules know it.
func viewCaller(c *fiber.Ctx) savedview.Caller {
	p := principalOf(c)
	return savedview.Caller{UserID: p.User.ID, Role: string(p.User.Role), TeamIDs: p.TeamIDs, LeadOf: p.LeadOf}
}

func storedAnswer(p savedview.Caller, v savedview.View) viewAnswer {
	owner, created, updated := v.OwnerID, v.CreatedAt, v.UpdatedAt
	return viewAnswer{ID: strconv.FormatInt(v.ID, 10), Name: v.Name, Query: v.Query, Sort: v.Sort,
		Visibility: string(v.Visibility), TeamID: v.TeamID, OwnerID: &owner, Position: v.Position,
		Editable: savedview.CanEdit(p, v) == nil, Deletable: savedview.CanDelete(p, v) == nil,
		CreatedAt: &created, UpdatedAt: &updated}
}

// listViews is GET /views: the built-in views, then the caller's personal
// views, then those shared with their teams, then those shared with
// everyone; within each group by position, then name.
func (s *Server) listViews(c *fiber.Ctx) error {
	p := viewCaller(c)
	teams := append(append([]int64(nil), p.TeamIDs...), p.LeadOf...)
	stored, err := s.store.ViewsFor(c.UserContext(), p.UserID, teams, p.Role == string(identity.RoleAdmin))
	if err != nil {
		return err
	}
	visible := stored[:0]
	for _, v := range stored {
		if savedview.CanSee(p, v) {
			visible = append(visible, v)
		}
	}
	savedview.SortForList(visible)
	items := make([]viewAnswer, 0, len(savedview.Builtins)+len(visible))
	for _, b := range savedview.Builtins {
		items = append(items, builtinAnswer(b))
	}
	for _, v := range visible {
		items = append(items, storedAnswer(p, v))
	}
	return c.JSON(fiber.Map{"items": items})
}

// viewTarget resolves :id to a stored view the caller may see; anything
// else (no such view, someone else's personal view, another team's) is
// 404 and audited as denied. Built-in ids are the caller's to handle.
func (s *Server) viewTarget(c *fiber.Ctx) (savedview.View, error) {
	raw := c.Params("id")
	hidden := func() (savedview.View, error) {
		c.Locals(auditDeniedKey, "view not visible")
		return savedview.View{}, notFound("no such view")
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return hidden()
	}
	c.Locals(auditObjectKey, "view:"+strconv.FormatInt(id, 10))
	v, err := s.store.View(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) {
		return hidden()
	}
	if err != nil {
		return v, err
	}
	if !savedview.CanSee(viewCaller(c), v) {
		return hidden()
	}
	return v, nil
}

// builtinTarget reports whether :id names a built-in view, and which.
func builtinTarget(c *fiber.Ctx) (savedview.Builtin, bool) {
	b, ok := savedview.BuiltinByID(c.Params("id"))
	if ok {
		c.Locals(auditObjectKey, "view:"+b.ID())
	}
	return b, ok
}

// changeTarget is viewTarget for changing and deleting: built-in views
// are read-only (403).
func (s *Server) changeTarget(c *fiber.Ctx) (savedview.View, error) {
	if _, ok := builtinTarget(c); ok {
		c.Locals(auditDeniedKey, "built-in view")
		return savedview.View{}, forbidden(typeForbidden, "built-in views cannot be changed or deleted; save a view of your own with its query")
	}
	return s.viewTarget(c)
}

func (s *Server) getView(c *fiber.Ctx) error {
	if b, ok := builtinTarget(c); ok {
		return c.JSON(builtinAnswer(b))
	}
	v, err := s.viewTarget(c)
	if err != nil {
		return err
	}
	return c.JSON(storedAnswer(viewCaller(c), v))
}

// viewBody is a view as POSTed or PATCHed: the members sent replace the
// view's.
type viewBody struct {
	Name       Field[string]          `json:"name"`
	Query      Field[string]          `json:"query"`
	Sort       Field[string]          `json:"sort"`
	Visibility Field[string]          `json:"visibility"`
	TeamID     Field[json.RawMessage] `json:"team_id"`
	Position   Field[float64]         `json:"position"`
}

// overlay sets the members of b that were sent on v (checking their JSON
// types; savedview.Check judges the values). Leaving a team
// (visibility other than team, team_id not sent) drops the team.
func (b viewBody) overlay(v *savedview.View) fieldErrors {
	var e fieldErrors
	text := func(name string, f Field[string], into *string) {
		switch {
		case !f.Set:
		case f.Null:
			e.add(name, "must be a string, not null")
		case f.Err != nil:
			e.add(name, "must be a string")
		default:
			*into = f.V
		}
	}
	text("name", b.Name, &v.Name)
	text("query", b.Query, &v.Query)
	text("sort", b.Sort, &v.Sort)
	vis := string(v.Visibility)
	text("visibility", b.Visibility, &vis)
	if vis != string(v.Visibility) {
		v.Visibility = savedview.Visibility(vis)
		if v.Visibility != savedview.Team && !b.TeamID.Set {
			v.TeamID = nil
		}
	}
	if team, present := nullableID(&e, "team_id", b.TeamID); present {
		v.TeamID = team
	}
	if b.Position.Set && b.Position.Null {
		e.add("position", fmt.Sprintf("must be a whole number from 0 to %d", savedview.MaxPosition))
	} else if pos := wholeNumber(&e, "position", b.Position, 0, savedview.MaxPosition); pos != nil {
		v.Position = *pos
	}
	return e
}

// checkView validates v (savedview.Check) after overlay's problems, and
// returns it cleaned or the 422 naming every problem.
func checkView(v savedview.View, errs fieldErrors) (savedview.View, error) {
	v, probs := savedview.Check(v)
	for _, p := range probs {
		if !errs.has(p.Field) {
			errs = append(errs, FieldError{Field: p.Field, Detail: p.Detail, Position: p.Pos})
		}
	}
	if len(errs) > 0 {
		return v, invalid("the view is not valid", errs...)
	}
	return v, nil
}

// viewWriteProblem maps what the store refuses to problems.
func viewWriteProblem(v savedview.View, err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return invalid("the view is not valid", FieldError{Field: "name", Detail: fmt.Sprintf("you already have a view named %q", v.Name)})
	case errors.Is(err, store.ErrNoTeam):
		return invalid("the view is not valid", FieldError{Field: "team_id", Detail: fmt.Sprintf("team %d does not exist", *v.TeamID)})
	case errors.Is(err, store.ErrLimit):
		return &Problem{Type: typeConflict, Title: "Conflict", Status: fiber.StatusConflict,
			Detail: fmt.Sprintf("you keep %d views already, the most allowed; delete one first", savedview.MaxPerOwner)}
	case errors.Is(err, store.ErrNotFound):
		return notFound("no such view")
	}
	return err
}

// refuseView answers 403 for a view the caller sees but may not change,
// or a sharing they may not do, and audits it as denied.
func refuseView(c *fiber.Ctx, err error) error {
	var na *savedview.NotAllowedError
	if !errors.As(err, &na) {
		return err
	}
	c.Locals(auditDeniedKey, na.Reason)
	return forbidden(typeForbidden, na.Reason)
}

// auditView adds the view's sharing to the change's audit entry.
func auditView(c *fiber.Ctx, v savedview.View) {
	c.Locals(auditObjectKey, "view:"+strconv.FormatInt(v.ID, 10))
	d := map[string]any{"name": v.Name, "visibility": string(v.Visibility)}
	if v.TeamID != nil {
		d["team_id"] = *v.TeamID
	}
	c.Locals(auditDetailKey, map[string]any{"view": d})
}

func (s *Server) createView(c *fiber.Ctx) error {
	var b viewBody
	if err := decode(c, &b); err != nil {
		return err
	}
	p := viewCaller(c)
	v := savedview.View{OwnerID: p.UserID, Visibility: savedview.Personal}
	errs := b.overlay(&v)
	if !b.Name.Set {
		errs.add("name", "is required")
	}
	v, err := checkView(v, errs)
	if err != nil {
		return err
	}
	if err := savedview.MayShare(p, v.Visibility, v.TeamID); err != nil {
		return refuseView(c, err)
	}
	saved, err := s.store.CreateView(c.UserContext(), v, savedview.MaxPerOwner)
	if err != nil {
		return viewWriteProblem(v, err)
	}
	auditView(c, saved)
	c.Location("/api/v1/views/" + strconv.FormatInt(saved.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(storedAnswer(p, saved))
}

func (s *Server) updateView(c *fiber.Ctx) error {
	var b viewBody
	if err := decode(c, &b); err != nil {
		return err
	}
	old, err := s.changeTarget(c)
	if err != nil {
		return err
	}
	p := viewCaller(c)
	if err := savedview.CanEdit(p, old); err != nil {
		return refuseView(c, err)
	}
	v := old
	errs := b.overlay(&v)
	if v, err = checkView(v, errs); err != nil {
		return err
	}
	if v.Visibility != old.Visibility || !sameTeam(v.TeamID, old.TeamID) {
		if err := savedview.CanMove(p, old, v.Visibility, v.TeamID); err != nil {
			return refuseView(c, err)
		}
	}
	saved, err := s.store.UpdateView(c.UserContext(), v)
	if err != nil {
		return viewWriteProblem(v, err)
	}
	auditView(c, saved)
	return c.JSON(storedAnswer(p, saved))
}

func sameTeam(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func (s *Server) deleteView(c *fiber.Ctx) error {
	v, err := s.changeTarget(c)
	if err != nil {
		return err
	}
	if err := savedview.CanDelete(viewCaller(c), v); err != nil {
		return refuseView(c, err)
	}
	if err := s.store.DeleteView(c.UserContext(), v.ID); err != nil {
		return viewWriteProblem(v, err)
	}
	auditView(c, v)
	return c.SendStatus(fiber.StatusNoContent)
}
