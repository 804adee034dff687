package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/bulk"
	"github.com/helpdesk/helpdesk/internal/finder"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/lifecycle"
	"github.com/helpdesk/helpdesk/internal/search"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Bulk carries what the bulk workflow's activities need: the store, the
// people (a job acts as the person who started it, as they are now), the
// access policy and a way to send tickets' workflows their Updates.
type Bulk struct {
	Store    *store.Store
	Identity *identity.Service
	// Policy answers what a role may do (the Casbin enforcer the API uses).
	Policy Enforcer
	// Tickets sends Updates to tickets' workflows.
	Tickets TicketUpdates
	// Scope are the deployment's visibility settings (agents_see_all_tickets).
	Scope identity.ScopeOptions
	// MaxTickets bounds a job's set (bulk_max_tickets).
	MaxTickets int
	// UpdateTimeout bounds the wait for one Update's answer.
	UpdateTimeout time.Duration
	// Finder resolves a job's query; nil refuses jobs by query.
	Finder *finder.Finder
}

// Enforcer is the access policy: may role act on object?
type Enforcer interface {
	Enforce(rvals ...any) (bool, error)
}

// TicketUpdates sends Updates to tickets' workflows: workflows.Client
// (which this package cannot import: workflows imports it).
type TicketUpdates interface {
	// Change and Comment send the change or comment Update (its ID the
	// request's) to ticket number's workflow and wait for its answer.
	Change(ctx context.Context, number int64, req lifecycle.ChangeRequest) error
	Comment(ctx context.Context, number int64, req lifecycle.CommentRequest) error
	// Refused says why err, an Update's failure, is a refusal (the
	// ticket stays as it was; asking again gets the same answer), and
	// false when it is not one (no answer in time, a failure to record):
	// then the same Update may be sent again.
	Refused(err error) (bulk.Failure, bool)
}

// Errors the bulk workflow does not retry.
const (
	// ErrBulkRefused: the job cannot run (too many tickets, its query does
	// not parse, its owner is disabled); the job fails with the message.
	ErrBulkRefused = "BulkRefused"
)

func refuse(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrBulkRefused, nil)
}

// SnapshotBulk resolves a job's set of tickets once (store.SnapshotBulk):
// its ids, or every ticket its query matches that its owner may see now.
// A retry keeps the set resolved first. Returns the number of tickets.
func (a *Bulk) SnapshotBulk(ctx context.Context, id string) (int, error) {
	job, err := a.Store.BulkJob(ctx, id)
	if err != nil {
		return 0, permanentIfMissing(err)
	}
	total, err := a.Store.SnapshotBulk(ctx, id, a.MaxTickets, func(add func([]int64) error) error {
		if job.Query == nil {
			return add(job.IDs)
		}
		if a.Finder == nil {
			return refuse("bulk actions by query are not available on this worker")
		}
		p, err := a.owner(ctx, job)
		if err != nil {
			return err
		}
		acc, err := a.access(p)
		if err != nil {
			return err
		}
		tz := time.UTC
		if job.TimeZone != "" {
			if tz, err = time.LoadLocation(job.TimeZone); err != nil {
				return refuse("time zone %q: %v", job.TimeZone, err)
			}
		}
		// The tickets the owner would find with this query now, in their
		// own view (staff see internal notes), as GET /tickets/search.
		r := finder.Request{Q: *job.Query, Loc: tz, Staff: acc.CommentInternal}
		return a.Finder.Scan(ctx, &p, r, func(hits []search.Hit) error {
			numbers := make([]int64, len(hits))
			for i, h := range hits {
				numbers[i] = h.Number
			}
			return add(numbers)
		})
	})
	var invalid *finder.InvalidError
	switch {
	case errors.Is(err, store.ErrTooMany):
		return 0, refuse("the query matches more than %d tickets (bulk_max_tickets); narrow it", a.MaxTickets)
	case errors.As(err, &invalid):
		// Valid when the job was made, not now (a team or field renamed).
		return 0, refuse("the query no longer runs: %v", invalid)
	}
	return total, err
}

// owner is the principal of the person who started job, as they are now.
func (a *Bulk) owner(ctx context.Context, job store.BulkJob) (identity.Principal, error) {
	p, err := a.Identity.UserPrincipal(ctx, job.CreatedBy)
	if errors.Is(err, identity.ErrUnauthenticated) {
		return p, refuse("user %d, who started the bulk action, no longer exists or is disabled", job.CreatedBy)
	}
	return p, err
}

// BulkPage is what one RunBulkPage did.
type BulkPage struct {
	Processed int
	// More: tickets are left to process.
	More bool
	// Cancelled: the job's cancellation was asked; it stopped taking
	// tickets.
	Cancelled bool
}

// bulkPageSize and bulkParallel: a page is up to bulkPageSize tickets,
// bulkParallel of them in flight at once.
const (
	bulkPageSize = 128
	bulkParallel = 12
)

// bulkHeartbeat is how often RunBulkPage tells Temporal it is alive; the
// workflow's heartbeat timeout is a few times longer, so a worker that
// died is noticed within seconds and its page given to another.
const bulkHeartbeat = 2 * time.Second

// RunBulkPage processes the next page of a job's pending tickets, a few
// at a time: for each, the owner's rights on that ticket now (bulk.Plan:
// visibility, the access policy, archived) decide what to send, each
// Update goes with its request ID derived from the job and the ticket,
// and the outcome is recorded as soon as it is known (GET /bulk/{id}
// reads it). Sending an Update again after a crash is harmless: the
// ticket's workflow answers a request ID it has seen with its first
// answer. It stops taking tickets once cancellation is asked.
func (a *Bulk) RunBulkPage(ctx context.Context, id string) (BulkPage, error) {
	job, err := a.Store.BulkJob(ctx, id)
	if err != nil {
		return BulkPage{}, permanentIfMissing(err)
	}
	if job.State != bulk.StateRunning {
		return BulkPage{}, nil // ended (a run repeated by hand): nothing to do
	}
	numbers, cancel, err := a.Store.PendingBulkItems(ctx, id, bulkPageSize)
	if err != nil || cancel || len(numbers) == 0 {
		return BulkPage{Cancelled: cancel}, err
	}
	p, err := a.owner(ctx, job)
	if err != nil {
		return BulkPage{}, err
	}
	acc, err := a.access(p)
	if err != nil {
		return BulkPage{}, err
	}
	pred, args := identity.TicketScope(p, a.Scope).SQL("t", 2)
	visible, err := a.Store.TicketsInScope(ctx, numbers, pred, args)
	if err != nil {
		return BulkPage{}, err
	}
	touched, err := a.Store.BulkTouched(ctx, id, numbers)
	if err != nil {
		return BulkPage{}, err
	}
	actor := lifecycle.Actor{UserID: p.User.ID, Role: string(p.User.Role), Bulk: id}

	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(bulkHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()

	var (
		cancelled atomic.Bool
		processed atomic.Int64
		next      atomic.Int64
		wg        sync.WaitGroup
		errMu     sync.Mutex
		firstErr  error
	)
	for range min(bulkParallel, len(numbers)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !cancelled.Load() && ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(numbers)) {
					return
				}
				n := numbers[i]
				var t *ticket.Ticket
				if tk, ok := visible[n]; ok {
					t = &tk
				}
				it := bulk.Plan(id, actor, acc, job.Change, job.Comment, n, t)
				stopNow, err := a.runItem(ctx, job, n, it, touched[n])
				if err != nil {
					errMu.Lock()
					firstErr = errors.Join(firstErr, err)
					errMu.Unlock()
					cancelled.Store(true) // a broken page is retried whole
					return
				}
				processed.Add(1)
				if stopNow {
					cancelled.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return BulkPage{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return BulkPage{}, err
	}
	out := BulkPage{Processed: int(processed.Load()), Cancelled: cancelled.Load()}
	if !out.Cancelled {
		rest, cancel, err := a.Store.PendingBulkItems(ctx, id, 1)
		if err != nil {
			return BulkPage{}, err
		}
		out.More, out.Cancelled = len(rest) > 0, cancel
	}
	return out, nil
}

// access is what the access policy lets p's role do to tickets.
func (a *Bulk) access(p identity.Principal) (bulk.Access, error) {
	var acc bulk.Access
	role := string(p.User.Role)
	for _, q := range []struct {
		action string
		into   *bool
	}{{"update", &acc.Update}, {"comment", &acc.Comment}, {"comment_internal", &acc.CommentInternal},
		{"assign", &acc.Rights.Assign}, {"reassign", &acc.Rights.Reassign}} {
		ok, err := a.Policy.Enforce(role, "ticket", q.action)
		if err != nil {
			return acc, fmt.Errorf("access policy: %w", err)
		}
		*q.into = ok
	}
	return acc, nil
}

// runItem sends one ticket what the plan says and records the outcome;
// stop reports that the job's cancellation was asked. touched: this job
// already wrote events to the ticket (an earlier attempt that did not
// live to record it), so a change the ticket no longer needs succeeded
// rather than was skipped. An error is a failure to record (retry the
// page).
func (a *Bulk) runItem(ctx context.Context, job store.BulkJob, n int64, it bulk.Item, touched bool) (stop bool, err error) {
	if it.Failure != nil {
		return a.Store.RecordBulkItem(ctx, job.ID, n, bulk.ItemFailed, it.Failure)
	}
	if it.Skip() {
		state := bulk.ItemSkipped
		if touched {
			state = bulk.ItemSucceeded
		}
		return a.Store.RecordBulkItem(ctx, job.ID, n, state, nil)
	}
	var updates []func(context.Context) error
	if it.Change != nil {
		req := *it.Change
		updates = append(updates, func(ctx context.Context) error { return a.Tickets.Change(ctx, n, req) })
	}
	if it.Comment != nil {
		// The body waits in PostgreSQL under the request ID, as the API's
		// comments do: text never enters workflow history.
		if err := a.Store.PutRequestPayload(ctx, it.Comment.RequestID, n, map[string]string{"body": job.Comment.Body}); err != nil {
			return false, err
		}
		req := *it.Comment
		updates = append(updates, func(ctx context.Context) error { return a.Tickets.Comment(ctx, n, req) })
	}
	// The change first: a ticket that refuses it gets no comment either.
	for _, update := range updates {
		f, sent, err := a.send(ctx, n, update)
		if err != nil || !sent {
			return a.notSent(ctx, job.ID, n, f, err)
		}
		if f != nil {
			return a.Store.RecordBulkItem(ctx, job.ID, n, bulk.ItemFailed, f)
		}
	}
	return a.Store.RecordBulkItem(ctx, job.ID, n, bulk.ItemSucceeded, nil)
}

// send sends one Update and waits at most UpdateTimeout for its answer:
// f is the refusal, if the workflow refused; sent is false when no answer
// came (f then says why, for the record once the ticket gives up).
func (a *Bulk) send(ctx context.Context, n int64, update func(context.Context) error) (f *bulk.Failure, sent bool, err error) {
	uctx, cancel := context.WithTimeout(ctx, a.UpdateTimeout)
	defer cancel()
	uerr := update(uctx)
	if uerr == nil {
		return nil, true, nil
	}
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	if r, ok := a.Tickets.Refused(uerr); ok {
		return &r, true, nil
	}
	activity.GetLogger(ctx).Warn("bulk: no answer from a ticket; it is tried again later", "ticket", n, "err", uerr)
	return &bulk.Failure{Reason: bulk.ReasonUnavailable, Detail: uerr.Error()}, false, nil
}

// notSent counts an attempt without an answer (the ticket stays pending
// for a later page until bulk.MaxAttempts), or passes err on.
func (a *Bulk) notSent(ctx context.Context, job string, n int64, f *bulk.Failure, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	_, cancel, err := a.Store.RetryBulkItem(ctx, job, n, bulk.MaxAttempts, *f)
	return cancel, err
}

// FinishBulkInput ends a job.
type FinishBulkInput struct {
	ID    string
	State string
	// Error says why a failed job could not run.
	Error string
}

// FinishBulk records how a job ended (store.FinishBulk); the tickets it
// did not get to are marked cancelled.
func (a *Bulk) FinishBulk(ctx context.Context, in FinishBulkInput) error {
	var errText *string
	if in.Error != "" {
		errText = &in.Error
	}
	return a.Store.FinishBulk(ctx, in.ID, in.State, errText)
}
