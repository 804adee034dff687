package intake

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/store"
)

// FlagProcessed marks a message the help desk has processed (the "flag"
// action; set before a move or delete too, so a failed move is visible).
const FlagProcessed imap.Flag = "$HelpdeskProcessed"

// Poller watches one mailbox. Run it in every intake process: a PostgreSQL
// advisory lock per mailbox makes exactly one of them the active poller;
// the others wait and take over when it goes away (its session ends with
// its connection, even on SIGKILL).
type Poller struct {
	Mailbox   config.Mailbox
	Processor *Processor
	Store     *store.Store
	Log       *slog.Logger
	// Concurrency is how many messages are in flight at once (default 8).
	Concurrency int
	// LockRetry is how often a waiting poller tries the lock (default 2s).
	LockRetry time.Duration
	// TLSConfig for tls and starttls (default: system roots, the host's name).
	TLSConfig *tls.Config
}

// Run polls until ctx ends. Errors (server down, wrong password, database
// gone) are logged and retried with backoff; Run returns only ctx's error.
func (p *Poller) Run(ctx context.Context) error {
	log := p.log()
	backoff := time.Second
	for ctx.Err() == nil {
		err := p.withLock(ctx, func(ctx context.Context) error { return p.session(ctx) })
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errNotLeader) {
			sleep(ctx, p.lockRetry())
			backoff = time.Second
			continue
		}
		log.Warn("mailbox session ended; retrying", "err", err, "in", backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, 30*time.Second)
	}
	return ctx.Err()
}

func (p *Poller) log() *slog.Logger {
	l := p.Log
	if l == nil {
		l = slog.Default()
	}
	return l.With("mailbox", p.Mailbox.Name)
}

func (p *Poller) lockRetry() time.Duration {
	if p.LockRetry > 0 {
		return p.LockRetry
	}
	return 2 * time.Second
}

var errNotLeader = errors.New("intake: another process polls this mailbox")

// withLock runs fn while holding the mailbox's advisory lock on a dedicated
// connection; fn's context ends when that connection stops answering.
func (p *Poller) withLock(ctx context.Context, fn func(context.Context) error) error {
	pool := p.Store.Pool()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	key := "helpdesk-intake:" + p.Mailbox.Name
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&got); err != nil {
		conn.Release()
		return err
	}
	if !got {
		conn.Release()
		return errNotLeader
	}
	p.log().Info("polling mailbox", "host", p.Mailbox.Host, "folder", p.Mailbox.Folder)
	lctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the lock lives as long as the connection: watch it
		defer wg.Done()
		watchLock(lctx, conn, cancel)
	}()
	err = fn(lctx)
	cancel(nil)
	wg.Wait()
	uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ucancel()
	if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); uerr != nil {
		conn.Conn().Close(uctx) // the session, and so the lock, ends with it
	}
	conn.Release()
	if cause := context.Cause(lctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

func watchLock(ctx context.Context, conn *pgxpool.Conn, cancel context.CancelCauseFunc) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("intake: lost the mailbox lock's connection: %w", err))
				return
			}
		}
	}
}

func (p *Poller) dial(handler *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	mb := p.Mailbox
	addr := net.JoinHostPort(mb.Host, strconv.Itoa(mb.Port))
	opts := &imapclient.Options{UnilateralDataHandler: handler, Dialer: &net.Dialer{Timeout: 15 * time.Second}}
	opts.TLSConfig = p.TLSConfig
	if opts.TLSConfig == nil {
		opts.TLSConfig = &tls.Config{ServerName: mb.Host, MinVersion: tls.VersionTLS12}
	}
	switch mb.Security {
	case "tls":
		return imapclient.DialTLS(addr, opts)
	case "starttls":
		return imapclient.DialStartTLS(addr, opts)
	default:
		return imapclient.DialInsecure(addr, opts)
	}
}

// session is one IMAP connection: log in, select, then process what is
// new, wait (IDLE or poll), repeat.
func (p *Poller) session(ctx context.Context) error {
	mb := p.Mailbox
	log := p.log()
	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	c, err := p.dial(&imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				notify()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("intake: connect %s:%d: %w", mb.Host, mb.Port, err)
	}
	defer c.Close()
	go func() { // a cancelled session must not wait on the network
		select {
		case <-ctx.Done():
			c.Close()
		case <-c.Closed():
		}
	}()
	if err := c.Login(mb.User, mb.Password).Wait(); err != nil {
		return fmt.Errorf("intake: log in to %s as %s: %w", mb.Host, mb.User, err)
	}
	if mb.Processed == "move" {
		// Already there is the common case; a real failure shows at the first move.
		_ = c.Create(mb.ProcessedFolder, nil).Wait()
	}
	sel, err := c.Select(mb.Folder, nil).Wait()
	if err != nil {
		return fmt.Errorf("intake: select %s: %w", mb.Folder, err)
	}
	validity := sel.UIDValidity
	v, last, ok, err := p.Store.Checkpoint(ctx, mb.Name)
	if err != nil {
		return err
	}
	if !ok || v != validity {
		if ok {
			log.Warn("UIDVALIDITY changed; reading the folder again (dedupe keeps it exactly once)", "was", v, "now", validity)
		}
		last = 0
	}
	idle := c.Caps().Has(imap.CapIdle) || c.Caps().Has(imap.CapIMAP4rev2)
	for ctx.Err() == nil {
		next, failed, err := p.batch(ctx, c, validity, last)
		if err != nil {
			return err
		}
		last = next
		if failed > 0 {
			// Something was not durable (database or Temporal away):
			// retry soon, from the checkpoint.
			sleep(ctx, 2*time.Second)
			continue
		}
		select {
		case <-wake: // mail arrived while we were busy
			continue
		default:
		}
		if err := p.wait(ctx, c, idle, wake); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// wait blocks until new mail is announced, the poll interval passes, or ctx
// ends.
func (p *Poller) wait(ctx context.Context, c *imapclient.Client, idle bool, wake <-chan struct{}) error {
	t := time.NewTimer(p.Mailbox.PollInterval.D())
	defer t.Stop()
	if !idle {
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return nil
	}
	cmd, err := c.Idle()
	if err != nil {
		return fmt.Errorf("intake: IDLE: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	case <-c.Closed():
	}
	if err := cmd.Close(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("intake: end IDLE: %w", err)
	}
	if err := cmd.Wait(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("intake: IDLE: %w", err)
	}
	return nil
}

// batch processes every message above last, at most Concurrency at a time,
// and returns the new checkpoint: the highest UID at or below which every
// message is durable and done in IMAP.
func (p *Poller) batch(ctx context.Context, c *imapclient.Client, validity uint32, last uint32) (uint32, int, error) {
	mb := p.Mailbox
	criteria := &imap.SearchCriteria{
		UID:     []imap.UIDSet{{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}}},
		NotFlag: []imap.Flag{imap.FlagDeleted},
	}
	if mb.Processed == "flag" {
		criteria.NotFlag = append(criteria.NotFlag, FlagProcessed)
	}
	data, err := c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return last, 0, fmt.Errorf("intake: search: %w", err)
	}
	var uids []imap.UID
	for _, u := range data.AllUIDs() {
		if uint32(u) > last { // "n:*" always includes the newest message
			uids = append(uids, u)
		}
	}
	if len(uids) == 0 {
		return last, 0, nil
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	sizes, err := fetchSizes(c, uids)
	if err != nil {
		return last, 0, err
	}

	tr := newTracker(last, uids)
	marks := &marker{p: p, c: c, tr: tr, save: func(cp uint32) {
		if err := p.Store.SaveCheckpoint(ctx, mb.Name, validity, cp); err != nil && ctx.Err() == nil {
			p.log().Warn("checkpoint not saved", "err", err)
		}
	}}
	n := p.Concurrency
	if n <= 0 {
		n = 8
	}
	w := &workers{p: p, ctx: ctx, sem: make(chan struct{}, n), marks: marks}
	for i := 0; i < len(uids) && ctx.Err() == nil; {
		select {
		case w.sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		// The next small messages go in one FETCH, as many as there are
		// free slots: one command instead of one per message.
		size := 1
		for size < n && i+size < len(uids) && p.windowed(sizes[uids[i]]) && p.windowed(sizes[uids[i+size]]) && w.trySlot() {
			size++
		}
		window := uids[i : i+size]
		i += size
		got, err := p.fetchWindow(c, window, sizes)
		if err != nil {
			for range window {
				<-w.sem
			}
			w.wg.Wait()
			return tr.checkpoint(), w.failed, err
		}
		for _, uid := range window {
			f, ok := got[uid]
			if !ok { // expunged by someone else meanwhile
				<-w.sem
				tr.done(uid)
				continue
			}
			w.start(uid, f)
		}
	}
	w.wg.Wait()
	if ctx.Err() != nil {
		return tr.checkpoint(), w.failed, ctx.Err()
	}
	return tr.checkpoint(), w.failed, nil
}

// workers are a batch's messages in flight, each holding one of sem's slots.
type workers struct {
	p      *Poller
	ctx    context.Context
	sem    chan struct{}
	marks  *marker
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed int // messages not made durable or not marked; retried later
}

func (w *workers) trySlot() bool {
	select {
	case w.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// start processes one fetched message in a goroutine holding a slot taken
// before: its outcome made durable, then the message marked done.
func (w *workers) start(uid imap.UID, f fetched) {
	p, ctx, mb, log := w.p, w.ctx, w.p.Mailbox, w.p.log()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		var out Outcome
		var err error
		if f.oversized {
			out, err = p.Processor.QuarantineOversized(ctx, mb, f.raw, f.size, f.reported, f.truncated)
		} else {
			out, err = p.Processor.Process(ctx, mb, f.raw, "")
		}
		if err == nil {
			p.Processor.hook("durable")
			err = w.marks.mark(uid)
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("message not processed; will retry", "uid", uid, "err", err)
			}
			w.mu.Lock()
			w.failed++
			w.mu.Unlock()
			return
		}
		log.Info("mail processed", "uid", uid, "outcome", out.Outcome, "ticket", out.Ticket, "comment", out.CommentID,
			"quarantine", out.QuarantineID, "again", out.Again, "reason", out.Reason)
		p.Processor.hook("marked")
	}()
}

// fetchSizes asks for the RFC822.SIZE of every message of a batch in one
// command. A message the server gives no size for is not in the map.
func fetchSizes(c *imapclient.Client, uids []imap.UID) (map[imap.UID]int64, error) {
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(u)
	}
	msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("intake: fetch sizes: %w", err)
	}
	sizes := make(map[imap.UID]int64, len(msgs))
	for _, m := range msgs {
		if m.RFC822Size > 0 {
			sizes[m.UID] = m.RFC822Size
		}
	}
	return sizes, nil
}

// fetched is one message as the poller read it.
type fetched struct {
	// raw is the whole message or, when oversized, the prefix kept in
	// quarantine (headers and the start of the body).
	raw       []byte
	oversized bool
	truncated bool  // raw is less than the whole message
	size      int64 // the whole message's size, or at least the bytes seen
	reported  int64 // RFC822.SIZE as the server reported it (0: none)
}

// fetch reads message uid, never more than mail_max_message_bytes + 1
// bytes of it. A message the server reports over the limit is not fetched:
// only its header section and the start of its body are. One within the
// limit, or without a reported size, is fetched as a partial range of
// limit + 1 bytes, so a server that reports no size or too small a one
// still cannot make the poller read more; a range that comes back full is
// oversized after all.
func (p *Poller) fetch(c *imapclient.Client, uid imap.UID, reported int64) (fetched, bool, error) {
	limit := int64(p.Processor.Config.MailMaxMessageBytes)
	if reported > limit {
		return fetchPrefix(c, uid, reported)
	}
	whole := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Size: limit + 1}}
	got, err := fetchSections(c, []imap.UID{uid}, whole)
	data, ok := got[uid]
	if err != nil || !ok {
		return fetched{}, !ok, err
	}
	raw := data[0]
	if int64(len(raw)) <= limit {
		return fetched{raw: raw, size: int64(len(raw)), reported: reported}, false, nil
	}
	return fetched{raw: bytes.Clone(raw[:keptLen(raw)]), oversized: true, truncated: true, size: int64(len(raw)), reported: reported}, false, nil
}

// fetchPrefix reads what the quarantine keeps of an oversized message: its
// header section (at most KeptHeaderBytes) and the first KeptBodyBytes of
// its body; one byte more of each tells whether anything was cut.
func fetchPrefix(c *imapclient.Client, uid imap.UID, size int64) (fetched, bool, error) {
	head := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true, Partial: &imap.SectionPartial{Size: KeptHeaderBytes + 1}}
	body := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true, Partial: &imap.SectionPartial{Size: KeptBodyBytes + 1}}
	got, err := fetchSections(c, []imap.UID{uid}, head, body)
	data, ok := got[uid]
	if err != nil || !ok {
		return fetched{}, !ok, err
	}
	h, b := data[0], data[1]
	f := fetched{oversized: true, size: size, reported: size}
	if len(h) > KeptHeaderBytes {
		f.raw, f.truncated = h[:KeptHeaderBytes], true
		return f, false, nil
	}
	f.truncated = len(b) > KeptBodyBytes
	f.raw = append(h, b[:min(len(b), KeptBodyBytes)]...)
	return f, false, nil
}

// fetchSections fetches body sections of the messages uids, reading at
// most each section's Partial.Size bytes of it whatever the server sends (a
// longer literal is skipped by the client without being kept). A message
// missing from the answer was expunged meanwhile.
func fetchSections(c *imapclient.Client, uids []imap.UID, sections ...*imap.FetchItemBodySection) (map[imap.UID][][]byte, error) {
	var set imap.UIDSet
	wanted := make(map[imap.UID]bool, len(uids))
	for _, u := range uids {
		set.AddNum(u)
		wanted[u] = true
	}
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: sections})
	defer cmd.Close()
	out := make(map[imap.UID][][]byte, len(uids))
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		data := make([][]byte, len(sections))
		withBody := false
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				for i, s := range sections {
					if data[i] == nil && s.Specifier == it.Section.Specifier {
						b, err := io.ReadAll(io.LimitReader(it.Literal, s.Partial.Size))
						if err != nil {
							return nil, fmt.Errorf("intake: fetch uid %s: %w", set, err)
						}
						data[i], withBody = b, true
						break
					}
				}
			}
		}
		// An unsolicited FETCH (another client changed flags) carries no
		// body and must not replace the answer.
		if _, seen := out[uid]; wanted[uid] && (withBody || !seen) {
			out[uid] = data
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("intake: fetch uid %s: %w", set, err)
	}
	return out, nil
}

// windowMaxBytes: messages the server reports at most this large are
// fetched several to a command (see fetchWindow).
const windowMaxBytes = 256 << 10

// windowed reports whether a message of the reported size may share a
// FETCH: small, and within the limit (larger ones are fetched alone, see
// fetch).
func (p *Poller) windowed(reported int64) bool {
	return reported > 0 && reported <= min(windowMaxBytes, int64(p.Processor.Config.MailMaxMessageBytes))
}

// fetchWindow fetches the messages uids: one alone as fetch does, several
// (all windowed) in one command, each read as a range
// of windowMaxBytes + 1; one that comes back longer than that (its reported
// size was wrong) is fetched again alone, bounded by the limit. Messages
// missing from the result were expunged meanwhile.
func (p *Poller) fetchWindow(c *imapclient.Client, uids []imap.UID, sizes map[imap.UID]int64) (map[imap.UID]fetched, error) {
	out := make(map[imap.UID]fetched, len(uids))
	if len(uids) == 1 {
		f, gone, err := p.fetch(c, uids[0], sizes[uids[0]])
		if err == nil && !gone {
			out[uids[0]] = f
		}
		return out, err
	}
	whole := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Size: windowMaxBytes + 1}}
	got, err := fetchSections(c, uids, whole)
	if err != nil {
		return nil, err
	}
	for uid, data := range got {
		raw := data[0]
		if len(raw) <= windowMaxBytes && int64(len(raw)) <= int64(p.Processor.Config.MailMaxMessageBytes) {
			out[uid] = fetched{raw: raw, size: int64(len(raw)), reported: sizes[uid]}
			continue
		}
		f, gone, err := p.fetch(c, uid, 0)
		if err != nil {
			return nil, err
		}
		if !gone {
			f.reported = sizes[uid]
			out[uid] = f
		}
	}
	return out, nil
}

// marker takes durable messages out of the watched folder's way in groups:
// while one STORE and MOVE are on the wire, the messages that become
// durable meanwhile queue and go together in the next pair of commands. A
// lone message goes at once. Per message, that saves Dovecot a transaction
// (index update, and for a move a copy and an expunge) and the fetch loop
// the wait behind two commands on the shared connection. After each group
// the checkpoint moves, saved once for the group.
type marker struct {
	p     *Poller
	c     *imapclient.Client
	tr    *tracker
	save  func(checkpoint uint32)
	mu    sync.Mutex
	queue []markRequest
	busy  bool
}

type markRequest struct {
	uid  imap.UID
	done chan error
}

// mark returns once uid is flagged and moved (or deleted), or that failed.
func (m *marker) mark(uid imap.UID) error {
	r := markRequest{uid: uid, done: make(chan error, 1)}
	m.mu.Lock()
	m.queue = append(m.queue, r)
	lead := !m.busy
	m.busy = true
	m.mu.Unlock()
	if lead {
		go m.flush()
	}
	return <-r.done
}

func (m *marker) flush() {
	for {
		m.mu.Lock()
		group := m.queue
		m.queue = nil
		if len(group) == 0 {
			m.busy = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		var set imap.UIDSet
		for _, r := range group {
			set.AddNum(r.uid)
		}
		err := m.p.markDone(m.c, set)
		if err == nil {
			var cp uint32
			moved := false
			for _, r := range group {
				if c, ok := m.tr.done(r.uid); ok {
					cp, moved = c, true
				}
			}
			if moved {
				m.save(cp)
			}
		}
		for _, r := range group {
			r.done <- err
		}
	}
}

// markDone takes durable messages out of the watched folder's way.
func (p *Poller) markDone(c *imapclient.Client, set imap.UIDSet) error {
	flags := []imap.Flag{FlagProcessed, imap.FlagSeen}
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: flags}, nil).Close(); err != nil {
		return fmt.Errorf("intake: flag uid %s: %w", set, err)
	}
	switch p.Mailbox.Processed {
	case "move":
		if _, err := c.Move(set, p.Mailbox.ProcessedFolder).Wait(); err != nil {
			return fmt.Errorf("intake: move uid %s to %s: %w", set, p.Mailbox.ProcessedFolder, err)
		}
	case "delete":
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return fmt.Errorf("intake: delete uid %s: %w", set, err)
		}
		if c.Caps().Has(imap.CapUIDPlus) || c.Caps().Has(imap.CapIMAP4rev2) {
			if err := c.UIDExpunge(set).Close(); err != nil {
				return fmt.Errorf("intake: expunge uid %s: %w", set, err)
			}
		} else if err := c.Expunge().Close(); err != nil {
			return fmt.Errorf("intake: expunge: %w", err)
		}
	}
	return nil
}

// tracker keeps the checkpoint: the highest UID with everything at or below
// it done, whatever order messages finish in.
type tracker struct {
	mu       sync.Mutex
	last     uint32
	pending  []imap.UID // ascending, not yet done
	finished map[imap.UID]bool
}

func newTracker(last uint32, uids []imap.UID) *tracker {
	return &tracker{last: last, pending: append([]imap.UID{}, uids...), finished: map[imap.UID]bool{}}
}

func (t *tracker) done(uid imap.UID) (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finished[uid] = true
	moved := false
	for len(t.pending) > 0 && t.finished[t.pending[0]] {
		t.last = uint32(t.pending[0])
		delete(t.finished, t.pending[0])
		t.pending = t.pending[1:]
		moved = true
	}
	return t.last, moved
}

func (t *tracker) checkpoint() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
