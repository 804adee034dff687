package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/bulk"
	"github.com/helpdesk/helpdesk/internal/finder"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Bulk actions (docs/bulk.md): POST /bulk starts one person's change
// and/or comment on a set of tickets, named by ids or by a query; the bulk
// workflow applies it ticket by ticket with that person's rights on each;
// GET /bulk/{id} shows its progress and each ticket that failed, and
// POST /bulk/{id}/cancel stops it between tickets. Only the person who
// started a job (or an admin) sees it.

// bulkBody is a POST /bulk body.
type bulkBody struct {
	Query   Field[string]            `json:"query"`
	IDs     Field[[]json.RawMessage] `json:"ids"`
	TZ      Field[string]            `json:"tz"`
	Change  Field[json.RawMessage]   `json:"change"`
	Comment Field[json.RawMessage]   `json:"comment"`
}

// bulkChangeBody is the change of a bulk action: PATCH's members that
// make sense on many tickets at once.
type bulkChangeBody struct {
	Status     Field[string]          `json:"status"`
	Priority   Field[string]          `json:"priority"`
	Assignee   Field[json.RawMessage] `json:"assignee"`
	Team       Field[json.RawMessage] `json:"team"`
	CategoryID Field[json.RawMessage] `json:"category_id"`
	TagsAdd    Field[[]string]        `json:"tags_add"`
	TagsRemove Field[[]string]        `json:"tags_remove"`
}

// bulkInput is a POST /bulk body checked for everything that needs
// neither the store nor the caller.
type bulkInput struct {
	query *string
	ids   []int64
	tz    string
	// The change: assignee and team still to resolve.
	change         bulk.Change
	assignee, team refValue
	comment        *bulk.Comment
}

// parseBulk reads a POST /bulk body: exactly one of query and ids (at
// most maxIDs ids), a change and/or a comment, each member checked as
// PATCH and POST /comments check theirs; every problem is a field error.
func parseBulk(body []byte, maxIDs int) (bulkInput, []FieldError, error) {
	var b bulkBody
	if err := decodeBody(body, &b); err != nil {
		return bulkInput{}, nil, err
	}
	var e fieldErrors
	var in bulkInput
	query := str(&e, "query", b.Query)
	ids, idsSent := idList(&e, "ids", b.IDs)
	switch {
	case query != nil && idsSent:
		e.add("query", "send either query or ids, not both")
	case query == nil && !idsSent && !e.has("query") && !e.has("ids"):
		e.add("ids", "send ids (ticket numbers) or a query")
	case query != nil:
		switch q := strings.TrimSpace(*query); {
		case q == "":
			e.add("query", "must not be empty")
		case len(q) > maxBulkQueryBytes:
			e.add("query", fmt.Sprintf("must be at most %d bytes", maxBulkQueryBytes))
		default:
			in.query = &q
		}
	case idsSent && len(b.IDs.V) == 0:
		e.add("ids", "must name at least one ticket")
	case idsSent && len(b.IDs.V) > maxIDs:
		e.add("ids", fmt.Sprintf("at most %d tickets in one bulk action (bulk_max_tickets), got %d", maxIDs, len(b.IDs.V)))
	default:
		in.ids = bulk.Dedupe(ids)
	}
	if tz := str(&e, "tz", b.TZ); tz != nil {
		if _, err := loadZone(*tz); err != nil {
			e.add("tz", err.Error())
		} else {
			in.tz = *tz
		}
	}
	if b.Change.Set && !b.Change.Null {
		var ch bulkChangeBody
		if member(&e, "change", b.Change, &ch) {
			in.change, in.assignee, in.team = parseBulkChange(&e, ch)
		}
	}
	if b.Comment.Set && !b.Comment.Null {
		var cb commentBody
		if member(&e, "comment", b.Comment, &cb) {
			text, internal, errs := checkComment(cb)
			for _, fe := range errs {
				e.add("comment."+fe.Field, fe.Detail)
			}
			if len(errs) == 0 {
				in.comment = &bulk.Comment{Body: text, Internal: internal}
			}
		}
	}
	if in.change.Empty() && !in.assignee.present && !in.team.present && in.comment == nil && !e.has("change") && !e.has("comment") &&
		!hasPrefix(e, "change.") && !hasPrefix(e, "comment.") {
		e.add("change", "send a change (status, priority, assignee, team, category_id, tags_add, tags_remove) and/or a comment")
	}
	return in, e, nil
}

// maxBulkQueryBytes bounds a bulk action's query.
const maxBulkQueryBytes = 4096

// member decodes the object member name into dst (a struct of Fields),
// adding a field error for anything that is not an object or a member dst
// does not know ("change.colour").
func member(e *fieldErrors, name string, f Field[json.RawMessage], dst any) bool {
	err := decodeBody(f.V, dst)
	var p *Problem
	switch {
	case err == nil:
		return true
	case errors.As(err, &p) && len(p.Errors) > 0:
		for _, fe := range p.Errors {
			e.add(name+"."+fe.Field, fe.Detail)
		}
	default:
		e.add(name, "must be an object")
	}
	return false
}

func hasPrefix(e fieldErrors, prefix string) bool {
	for _, fe := range e {
		if strings.HasPrefix(fe.Field, prefix) {
			return true
		}
	}
	return false
}

// parseBulkChange reads a bulk action's change as parseChange reads a
// PATCH's, its field errors named "change.<member>".
func parseBulkChange(e *fieldErrors, b bulkChangeBody) (bulk.Change, refValue, refValue) {
	var inner fieldErrors
	var ch bulk.Change
	for _, f := range []struct {
		name string
		f    Field[string]
	}{{"status", b.Status}, {"priority", b.Priority}} {
		if f.f.Null {
			inner.add(f.name, "must be a string, not null")
		}
	}
	if v := str(&inner, "status", b.Status); v != nil {
		if st, err := ticket.ParseStatus(*v); err != nil {
			inner.add("status", err.Error())
		} else {
			ch.Status = &st
		}
	}
	ch.Priority = parsePriority(&inner, b.Priority)
	assignee, team := ref(&inner, "assignee", b.Assignee), ref(&inner, "team", b.Team)
	if id, set := nullableID(&inner, "category_id", b.CategoryID); set {
		ch.Category = &lifecycle.IDChange{ID: id}
	}
	ch.TagsAdd, ch.TagsRemove = parseTags(&inner, b.TagsAdd, b.TagsRemove)
	for _, fe := range inner {
		e.add("change."+fe.Field, fe.Detail)
	}
	return ch, assignee, team
}

// createBulk is POST /bulk: the job is stored, its workflow started, and
// the answer (202, the job) comes at once; the work follows.
func (s *Server) createBulk(c *fiber.Ctx) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	in, errs, err := parseBulk(c.Body(), s.cfg.BulkMaxTickets)
	if err != nil {
		return err
	}
	p, ctx := principalOf(c), c.UserContext()
	for _, r := range []struct {
		ref     refValue
		field   string
		resolve func(context.Context, string, refValue) (*int64, *FieldError, error)
		into    **lifecycle.IDChange
	}{{in.assignee, "change.assignee", s.resolveAssignee, &in.change.Assignee}, {in.team, "change.team", s.resolveTeam, &in.change.Team}} {
		if !r.ref.present {
			continue
		}
		id, fe, err := r.resolve(ctx, r.field, r.ref)
		if err != nil {
			return err
		}
		if fe != nil {
			errs = append(errs, *fe)
			continue
		}
		*r.into = &lifecycle.IDChange{ID: id}
	}
	if cat := in.change.Category; cat != nil && cat.ID != nil {
		fe, err := s.checkCategory(ctx, *cat.ID)
		if err != nil {
			return err
		}
		if fe != nil {
			errs = append(errs, *fe)
		}
	}
	key := c.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		errs = append(errs, FieldError{Field: "Idempotency-Key", Detail: fmt.Sprintf("header must be at most %d characters", maxIdempotencyKey)})
	}
	if len(errs) > 0 {
		return invalid("the bulk action is not valid", errs...)
	}
	if err := s.mayBulk(p, in); err != nil {
		return err
	}
	if in.query != nil {
		if err := s.checkBulkQuery(ctx, p, &in); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(c.Body())
	job := store.BulkJob{ID: randomKey(), CreatedBy: p.User.ID, Query: in.query, TimeZone: in.tz, IDs: in.ids,
		Change: in.change, Comment: in.comment, RequestHash: hex.EncodeToString(sum[:])}
	if key != "" {
		// A retry with the same key is the same job.
		job.ID = hashID(fmt.Sprintf("bulk:user:%d:%s", p.User.ID, key))
	}
	stored, created, err := s.store.CreateBulkJob(ctx, job)
	if err != nil {
		return err
	}
	if !created && stored.RequestHash != job.RequestHash {
		return &Problem{Type: typeIdempotency, Title: "Idempotency key reused", Status: fiber.StatusUnprocessableEntity,
			Detail: "this Idempotency-Key was already used with a different request body; use a new key for a new bulk action",
			Errors: []FieldError{{Field: "Idempotency-Key", Detail: "already used with a different request"}}}
	}
	if stored.CreatedBy != p.User.ID {
		return fmt.Errorf("api: bulk job %s belongs to user %d, not %d", stored.ID, stored.CreatedBy, p.User.ID)
	}
	if err := s.flows().StartBulk(ctx, stored.ID); err != nil {
		if created {
			// Nothing may run it: the job goes, so none is left running
			// forever. Had its workflow started after all, it fails finding
			// no job, and a retry (same key) makes the job and starts it
			// again.
			if derr := s.store.DeleteBulkJob(context.WithoutCancel(ctx), stored.ID); derr != nil {
				s.log.Error("bulk job left without a workflow", "job", stored.ID, "err", derr)
			}
		}
		s.log.Warn("bulk job not started", "job", stored.ID, "err", err)
		return unavailable("the bulk action could not be started; retry with the same Idempotency-Key", retryAfterSeconds)
	}
	return s.sendBulk(c, fiber.StatusAccepted, stored)
}

// checkBulkQuery checks a bulk action's query as a search would run it
// (422 naming the position of what is wrong) and settles the time zone
// its days are read in: tz, else the caller's. Which tickets it matches
// is decided when the job starts.
func (s *Server) checkBulkQuery(ctx context.Context, p *identity.Principal, in *bulkInput) error {
	loc := s.userLocation(p)
	if in.tz != "" {
		var err error
		if loc, err = loadZone(in.tz); err != nil {
			return invalid("the bulk action is not valid", FieldError{Field: "tz", Detail: err.Error()})
		}
	}
	in.tz = loc.String()
	staff, err := s.seesInternal(p)
	if err != nil {
		return err
	}
	_, err = s.finder().Compile(ctx, p, finder.Request{Q: *in.query, Loc: loc, Staff: staff})
	var pr *Problem
	if err = findError(err); errors.As(err, &pr) {
		// The search's parameter q is this body's query.
		pr.Detail = "the bulk action's query is not valid"
		for i := range pr.Errors {
			if pr.Errors[i].Field == "q" {
				pr.Errors[i].Field = "query"
			}
		}
	}
	return err
}

// checkCategory is a category a change may move tickets to: it exists and
// is not archived.
func (s *Server) checkCategory(ctx context.Context, id int64) (*FieldError, error) {
	tree, err := s.categoryTree(ctx)
	if err != nil {
		return nil, err
	}
	switch cat, ok := tree.Get(id); {
	case !ok:
		return &FieldError{Field: "change.category_id", Detail: fmt.Sprintf("category %d does not exist", id)}, nil
	case cat.Archived:
		return &FieldError{Field: "change.category_id", Detail: fmt.Sprintf("category %q is archived", cat.Path)}, nil
	}
	return nil, nil
}

// mayBulk refuses (403) what p's role may not do to any ticket: change
// tickets, comment, comment internally. What depends on each ticket is
// decided per ticket as the job runs.
func (s *Server) mayBulk(p *identity.Principal, in bulkInput) error {
	need := []string{}
	if !in.change.Empty() {
		need = append(need, "update")
	}
	if in.comment != nil {
		need = append(need, "comment")
		if in.comment.Internal {
			need = append(need, "comment_internal")
		}
	}
	for _, action := range need {
		ok, err := s.may(p, action)
		if err != nil {
			return err
		}
		if !ok {
			return forbidden(typeForbidden, fmt.Sprintf("the %s role may not %s tickets", p.User.Role, action))
		}
	}
	return nil
}

// bulkJobFor is the job named in :id if p may see it: its creator or an
// admin. Anyone else's job, like one that does not exist, is 404.
func (s *Server) bulkJobFor(c *fiber.Ctx) (store.BulkJob, error) {
	id := c.Params("id")
	p := principalOf(c)
	if !validJobID(id) {
		return store.BulkJob{}, notFound(fmt.Sprintf("bulk action %q does not exist", id))
	}
	job, err := s.store.BulkJob(c.UserContext(), id)
	if isNotFound(err) || err == nil && job.CreatedBy != p.User.ID && p.User.Role != identity.RoleAdmin {
		c.Locals(auditDeniedKey, "not visible")
		return store.BulkJob{}, notFound(fmt.Sprintf("bulk action %q does not exist", id))
	}
	return job, err
}

// validJobID: job ids are hex (random or hashed); anything else names no
// job and is not looked up.
func validJobID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// getBulk is GET /bulk/{id}: the job's state, counts and failures.
func (s *Server) getBulk(c *fiber.Ctx) error {
	job, err := s.bulkJobFor(c)
	if err != nil {
		return err
	}
	return s.sendBulk(c, fiber.StatusOK, job)
}

// cancelBulk is POST /bulk/{id}/cancel: a running job stops taking
// tickets (those in flight finish); the answer is the job as it is then
// (its state turns cancelled once its workflow stopped). A job that
// already ended is 409.
func (s *Server) cancelBulk(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	job, err := s.bulkJobFor(c)
	if err != nil {
		return err
	}
	if job.State != bulk.StateRunning && job.State != bulk.StateCancelled {
		return &Problem{Type: typeConflict, Title: "Conflict", Status: fiber.StatusConflict,
			Detail: fmt.Sprintf("bulk action %s already ended (%s)", job.ID, job.State)}
	}
	if job, err = s.store.RequestBulkCancel(c.UserContext(), job.ID); err != nil {
		return err
	}
	return s.sendBulk(c, fiber.StatusAccepted, job)
}

// listBulk is GET /bulk?limit=: the caller's own jobs, newest first,
// without their failures.
func (s *Server) listBulk(c *fiber.Ctx) error {
	var errs []FieldError
	limit := int(queryInt(c, "limit", 1, 100, 20, "must be a whole number from 1 to 100", &errs))
	if len(errs) > 0 {
		return invalid("the query is not valid", errs...)
	}
	jobs, err := s.store.BulkJobsBy(c.UserContext(), principalOf(c).User.ID, limit)
	if err != nil {
		return err
	}
	out := struct {
		Items []bulkView `json:"items"`
	}{Items: make([]bulkView, 0, len(jobs))}
	for _, j := range jobs {
		out.Items = append(out.Items, viewOfBulk(j, nil))
	}
	return c.JSON(out)
}

// maxBulkFailures bounds the failures one GET /bulk/{id} lists (failed
// counts them all).
const maxBulkFailures = 1000

// sendBulk answers the job with its failures.
func (s *Server) sendBulk(c *fiber.Ctx, status int, job store.BulkJob) error {
	failures, err := s.store.BulkFailures(c.UserContext(), job.ID, maxBulkFailures)
	if err != nil {
		return err
	}
	list := make([]bulkFailureView, 0, len(failures))
	for _, f := range failures {
		list = append(list, bulkFailureView{Ticket: f.Ticket, Reason: f.Reason, Detail: f.Detail})
	}
	c.Location("/api/v1/bulk/" + job.ID)
	return c.Status(status).JSON(viewOfBulk(job, list))
}

// bulkView is a job as the API shows it (docs/bulk.md).
type bulkView struct {
	ID         string         `json:"id"`
	State      string         `json:"state"`
	Total      int            `json:"total"`
	Done       int            `json:"done"`
	Succeeded  int            `json:"succeeded"`
	Failed     int            `json:"failed"`
	Skipped    int            `json:"skipped"`
	Cancelled  int            `json:"cancelled"`
	CreatedAt  time.Time      `json:"created_at"`
	FinishedAt *time.Time     `json:"finished_at"`
	CreatedBy  int64          `json:"created_by"`
	Query      *string        `json:"query"`
	Change     bulkChangeView `json:"change"`
	Comment    *bulk.Comment  `json:"comment"`
	// Error says why a failed job could not run.
	Error *string `json:"error"`
	// Failures is left out of lists.
	Failures []bulkFailureView `json:"failures,omitzero"`
}

type bulkFailureView struct {
	Ticket int64  `json:"ticket"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// bulkChangeView is a job's change with PATCH's member names; members the
// change leaves alone are absent, and a cleared assignee, team or category
// is null.
type bulkChangeView struct {
	Status     *ticket.Status   `json:"status,omitempty"`
	Priority   *ticket.Priority `json:"priority,omitempty"`
	Assignee   *json.RawMessage `json:"assignee,omitempty"`
	Team       *json.RawMessage `json:"team,omitempty"`
	CategoryID *json.RawMessage `json:"category_id,omitempty"`
	TagsAdd    []string         `json:"tags_add,omitempty"`
	TagsRemove []string         `json:"tags_remove,omitempty"`
}

func viewOfBulk(j store.BulkJob, failures []bulkFailureView) bulkView {
	idOrNull := func(c *lifecycle.IDChange) *json.RawMessage {
		if c == nil {
			return nil
		}
		raw := json.RawMessage("null")
		if c.ID != nil {
			raw = json.RawMessage(fmt.Sprint(*c.ID))
		}
		return &raw
	}
	ch := j.Change
	v := bulkView{ID: j.ID, State: j.State, Total: j.Total, Succeeded: j.Succeeded, Failed: j.Failed, Skipped: j.Skipped,
		Cancelled: j.Cancelled, Done: j.Succeeded + j.Failed + j.Skipped, CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt,
		CreatedBy: j.CreatedBy, Query: j.Query, Comment: j.Comment, Error: j.Error, Failures: failures,
		Change: bulkChangeView{Status: ch.Status, Priority: ch.Priority, Assignee: idOrNull(ch.Assignee), Team: idOrNull(ch.Team),
			CategoryID: idOrNull(ch.Category), TagsAdd: ch.TagsAdd, TagsRemove: ch.TagsRemove}}
	return v
}
