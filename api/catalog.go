package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/catalog"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Categories and custom fields (admins define them; everyone reads them
// for the new-ticket form). See docs/routing.md.

func (s *Server) categoryTree(ctx context.Context) (*catalog.Tree, error) {
	cs, err := s.store.Categories(ctx)
	if err != nil {
		return nil, err
	}
	return catalog.NewTree(cs), nil
}

func problemsOf(ps []catalog.Problem) []FieldError {
	out := make([]FieldError, len(ps))
	for i, p := range ps {
		out[i] = FieldError{Field: p.Field, Detail: p.Detail}
	}
	return out
}

func (s *Server) listCategories(c *fiber.Ctx) error {
	tree, err := s.categoryTree(c.UserContext())
	if err != nil {
		return err
	}
	all := c.Query("include_archived") == "true"
	items := []catalog.Category{}
	for _, cat := range tree.Sorted() {
		if all || !cat.Archived {
			items = append(items, cat)
		}
	}
	return c.JSON(fiber.Map{"items": items})
}

func (s *Server) createCategory(c *fiber.Ctx) error {
	var b struct {
		Name     Field[string]          `json:"name"`
		ParentID Field[json.RawMessage] `json:"parent_id"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	var errs fieldErrors
	name := required(&errs, "name", b.Name)
	parent, _ := nullableID(&errs, "parent_id", b.ParentID)
	tree, err := s.categoryTree(c.UserContext())
	if err != nil {
		return err
	}
	var clean string
	if name != nil {
		var p *catalog.Problem
		if clean, p = catalog.ValidateName(*name); p != nil {
			errs = append(errs, FieldError{Field: p.Field, Detail: p.Detail})
		}
	}
	if parent != nil {
		if pc, ok := tree.Get(*parent); !ok {
			errs = append(errs, FieldError{Field: "parent_id", Detail: fmt.Sprintf("category %d does not exist", *parent)})
		} else if pc.Archived {
			errs = append(errs, FieldError{Field: "parent_id", Detail: fmt.Sprintf("category %q is archived", pc.Path)})
		}
	}
	if len(errs) > 0 {
		return invalid("the category is not valid", errs...)
	}
	cat, err := s.store.CreateCategory(c.UserContext(), clean, parent)
	if errors.Is(err, store.ErrConflict) {
		return invalid("the category is not valid", FieldError{Field: "name", Detail: fmt.Sprintf("a sibling is already named %q", clean)})
	}
	if err != nil {
		return err
	}
	if cat.Path = clean; parent != nil {
		cat.Path = tree.PathName(*parent) + " / " + clean
	}
	c.Location("/api/v1/categories/" + strconv.FormatInt(cat.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(cat)
}

func (s *Server) updateCategory(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound(fmt.Sprintf("category %q does not exist", c.Params("id")))
	}
	var b struct {
		Name     Field[string]          `json:"name"`
		ParentID Field[json.RawMessage] `json:"parent_id"`
		Archived Field[bool]            `json:"archived"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	ctx := c.UserContext()
	tree, err := s.categoryTree(ctx)
	if err != nil {
		return err
	}
	if _, ok := tree.Get(id); !ok {
		return notFound(fmt.Sprintf("category %d does not exist", id))
	}
	var errs fieldErrors
	var u store.CategoryUpdate
	if name := str(&errs, "name", b.Name); name != nil {
		clean, p := catalog.ValidateName(*name)
		if p != nil {
			errs = append(errs, FieldError{Field: p.Field, Detail: p.Detail})
		}
		u.Name = &clean
	}
	if parent, present := nullableID(&errs, "parent_id", b.ParentID); present {
		u.Parent = &struct{ ID *int64 }{ID: parent}
		if parent != nil {
			if _, ok := tree.Get(*parent); !ok {
				errs = append(errs, FieldError{Field: "parent_id", Detail: fmt.Sprintf("category %d does not exist", *parent)})
			}
		}
	}
	u.Archived = boolean(&errs, "archived", b.Archived)
	if len(errs) > 0 {
		return invalid("the change is not valid", errs...)
	}
	cycle := func(all []catalog.Category) bool {
		return u.Parent.ID != nil && catalog.NewTree(all).WouldCycle(id, *u.Parent.ID)
	}
	err = s.store.UpdateCategory(ctx, id, u, cycle)
	switch {
	case errors.Is(err, store.ErrCycle):
		return invalid("the move is not valid", FieldError{Field: "parent_id", Detail: "a category cannot move under itself or one of its subcategories"})
	case errors.Is(err, store.ErrConflict):
		return invalid("the change is not valid", FieldError{Field: "name", Detail: "a sibling already has this name"})
	case err != nil:
		return err
	}
	if tree, err = s.categoryTree(ctx); err != nil {
		return err
	}
	cat, _ := tree.Get(id)
	return c.JSON(cat)
}

// fieldBody is a custom field definition as POSTed or PATCHed.
type fieldBody struct {
	Key                Field[string]            `json:"key"`
	Label              Field[string]            `json:"label"`
	Type               Field[string]            `json:"type"`
	Options            Field[json.RawMessage]   `json:"options"`
	Required           Field[bool]              `json:"required"`
	RequiredToResolve  Field[bool]              `json:"required_to_resolve"`
	CategoryIDs        Field[[]json.RawMessage] `json:"category_ids"`
	Retired            Field[bool]              `json:"retired"`
	Position           Field[float64]           `json:"position"`
	VisibleToRequester Field[bool]              `json:"visible_to_requester"`
}

func (s *Server) listCustomFields(c *fiber.Ctx) error {
	ctx := c.UserContext()
	fs, err := s.fieldsFor(ctx, principalOf(c))
	if err != nil {
		return err
	}
	var path []int64
	filter := false
	if v := c.Query("category_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return invalid("the query is not valid", FieldError{Field: "category_id", Detail: "must be a category id"})
		}
		tree, err := s.categoryTree(ctx)
		if err != nil {
			return err
		}
		path, filter = tree.Ancestors(id), true
	}
	retired := c.Query("include_retired") == "true"
	items := []catalog.Field{}
	for _, f := range fs {
		if (f.Retired && !retired) || (filter && !f.AppliesTo(path)) {
			continue
		}
		items = append(items, f)
	}
	return c.JSON(fiber.Map{"items": items})
}

// fieldFromBody overlays the body on f and validates the result.
func (s *Server) fieldFromBody(ctx context.Context, f *catalog.Field, b fieldBody, creating bool) error {
	var errs fieldErrors
	if !creating {
		for _, k := range []struct {
			name string
			set  bool
		}{{"key", b.Key.Set}, {"type", b.Type.Set}} {
			if k.set {
				errs.add(k.name, "cannot change once the field exists")
			}
		}
	}
	if v := str(&errs, "key", b.Key); v != nil {
		f.Key = strings.TrimSpace(*v)
	}
	if v := str(&errs, "label", b.Label); v != nil {
		f.Label = strings.TrimSpace(*v)
	}
	if v := str(&errs, "type", b.Type); v != nil {
		f.Type = catalog.FieldType(*v)
	}
	if raw, ok := b.Options.Value(); ok {
		opts, probs := catalog.ParseOptions(raw)
		errs = append(errs, problemsOf(probs)...)
		if creating {
			f.Options = opts
		} else {
			f.Options = catalog.MergeOptions(f.Options, opts)
		}
	}
	if f.Options == nil {
		f.Options = []catalog.Option{}
	}
	for _, flag := range []struct {
		name string
		f    Field[bool]
		into *bool
	}{{"required", b.Required, &f.Required}, {"required_to_resolve", b.RequiredToResolve, &f.RequiredToResolve},
		{"retired", b.Retired, &f.Retired}, {"visible_to_requester", b.VisibleToRequester, &f.VisibleToRequester}} {
		if v := boolean(&errs, flag.name, flag.f); v != nil {
			*flag.into = *v
		}
	}
	if v := wholeNumber(&errs, "position", b.Position, -1000000, 1000000); v != nil {
		f.Position = *v
	}
	if ids, ok := idList(&errs, "category_ids", b.CategoryIDs); ok {
		f.CategoryIDs = ids
	}
	if f.CategoryIDs == nil {
		f.CategoryIDs = []int64{}
	}
	if creating {
		for _, k := range []struct {
			name string
			set  bool
		}{{"key", b.Key.Set}, {"label", b.Label.Set}, {"type", b.Type.Set}} {
			if !k.set && !errs.has(k.name) {
				errs.add(k.name, "is required")
			}
		}
	}
	if len(errs) == 0 {
		errs = append(errs, problemsOf(catalog.ValidateDefinition(*f))...)
	}
	if len(f.CategoryIDs) > 0 {
		tree, err := s.categoryTree(ctx)
		if err != nil {
			return err
		}
		for i, id := range f.CategoryIDs {
			if _, ok := tree.Get(id); !ok {
				errs = append(errs, FieldError{Field: fmt.Sprintf("category_ids[%d]", i), Detail: fmt.Sprintf("category %d does not exist", id)})
			}
		}
	}
	if len(errs) > 0 {
		return invalid("the custom field is not valid", errs...)
	}
	return nil
}

func (s *Server) createCustomField(c *fiber.Ctx) error {
	var b fieldBody
	if err := decode(c, &b); err != nil {
		return err
	}
	f := catalog.Field{VisibleToRequester: true}
	if err := s.fieldFromBody(c.UserContext(), &f, b, true); err != nil {
		return err
	}
	f.Retired = false
	saved, err := s.store.SaveCustomField(c.UserContext(), f)
	if errors.Is(err, store.ErrConflict) {
		return invalid("the custom field is not valid", FieldError{Field: "key",
			Detail: fmt.Sprintf("%q is already used by a field (keys are never reused, also after retiring)", f.Key)})
	}
	if err != nil {
		return err
	}
	// Map the field in the search index now; if Elasticsearch is away, the
	// first write of a value maps it (search.Index.IndexTicket).
	if s.index != nil {
		if err := s.index.MapField(c.UserContext(), saved); err != nil {
			slog.Warn("custom field not mapped in the search index yet", "key", saved.Key, "err", err)
		}
	}
	c.Location("/api/v1/custom-fields/" + strconv.FormatInt(saved.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(saved)
}

func (s *Server) updateCustomField(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound(fmt.Sprintf("custom field %q does not exist", c.Params("id")))
	}
	var b fieldBody
	if err := decode(c, &b); err != nil {
		return err
	}
	ctx := c.UserContext()
	f, err := s.store.CustomField(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(fmt.Sprintf("custom field %d does not exist", id))
	}
	if err != nil {
		return err
	}
	if err := s.fieldFromBody(ctx, &f, b, false); err != nil {
		return err
	}
	saved, err := s.store.SaveCustomField(ctx, f)
	if err != nil {
		return err
	}
	return c.JSON(saved)
}

// ticketCatalog checks a ticket's category and custom field values: the
// category must exist and (for a new category) not be archived; values
// are validated against the fields applying to it that p may know of (a
// field hidden from requesters is, to them, no such field). current is
// nil on creation. It returns the normalized changes.
func (s *Server) ticketCatalog(ctx context.Context, p *identity.Principal, categoryID *int64, newCategory bool,
	input map[string]json.RawMessage, current catalog.Values) (map[string]any, []FieldError, error) {
	var errs []FieldError
	var path []int64
	if categoryID != nil {
		tree, err := s.categoryTree(ctx)
		if err != nil {
			return nil, nil, err
		}
		cat, ok := tree.Get(*categoryID)
		switch {
		case !ok:
			errs = append(errs, FieldError{Field: "category_id", Detail: fmt.Sprintf("category %d does not exist", *categoryID)})
		case cat.Archived && newCategory:
			errs = append(errs, FieldError{Field: "category_id", Detail: fmt.Sprintf("category %q is archived", cat.Path)})
		}
		path = tree.Ancestors(*categoryID)
	}
	if input == nil && current != nil {
		return nil, errs, nil
	}
	fields, err := s.fieldsFor(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	changes, probs := catalog.ValidateValues(fields, path, input, current)
	errs = append(errs, problemsOf(probs)...)
	for k, v := range changes {
		if id, ok := v.(int64); ok {
			if _, err := s.ident.UserByID(ctx, id); err != nil {
				errs = append(errs, FieldError{Field: "custom_fields." + k, Detail: fmt.Sprintf("no user with id %d", id)})
			}
		}
	}
	return changes, errs, nil
}

// nameCategories fills in each ticket's category path for display.
func (s *Server) nameCategories(ctx context.Context, ts []ticket.Ticket) error {
	var tree *catalog.Tree
	for i := range ts {
		if ts[i].CustomFields == nil {
			ts[i].CustomFields = map[string]any{}
		}
		if ts[i].Tags == nil {
			ts[i].Tags = []string{}
		}
		if ts[i].CategoryID == nil {
			continue
		}
		if tree == nil {
			var err error
			if tree, err = s.categoryTree(ctx); err != nil {
				return err
			}
		}
		p := tree.PathName(*ts[i].CategoryID)
		ts[i].Category = &p
	}
	return nil
}
