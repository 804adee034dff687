// Command intake measures the email channel end to end: a private Dovecot,
// the intake poller in this process (IMAP IDLE, 8 messages in flight), and
// the rest of the stack as bench/create starts it (PostgreSQL,
// Elasticsearch, an embedded Temporal server, a ticket worker).
//
// Throughput: with the poller stopped, -messages distinct messages (80% new
// tickets, 20% replies threading onto tickets opened by a warm-up of 100
// messages) are delivered into the help desk inbox over LMTP; then the
// poller starts and the clock runs until every one of them is durable (its
// mail_messages row is no longer "processing").
//
// Latency: with the poller running and idle, -latency messages are put into
// the inbox one at a time with a real IMAP APPEND from a second client; each
// sample is the time from the start of the APPEND until the message's mail
// row says "ticket" and the ticket row exists.
//
// Correctness is asserted (every message exactly one ticket or comment,
// none quarantined, the inbox empty afterwards); speed is only reported.
//
//	GOTOOLCHAIN=go1.27.3 go run ./bench/intake -messages 1000
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/jackc/pgx/v5"

	"github.com/helpdesk/helpdesk/intake"
	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
	"github.com/helpdesk/helpdesk/internal/devstack/stack"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

const (
	supportAddress = "support@helpdesk.local"
	warmupCount    = 100 // new tickets processed before the timed run; the replies thread onto these
)

func main() {
	messages := flag.Int("messages", 1000, "messages in the throughput run (80% new tickets, 20% replies)")
	latency := flag.Int("latency", 200, "sequential APPEND → durable ticket samples with the poller idle")
	concurrency := flag.Int("concurrency", 8, "messages the poller keeps in flight")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of the throughput run to FILE (poller, worker and Temporal share this process)")
	flag.Parse()
	if *messages < 5 || *latency < 1 || *concurrency < 1 {
		fmt.Fprintln(os.Stderr, "bench: -messages must be ≥ 5, -latency and -concurrency ≥ 1")
		os.Exit(2)
	}
	ok, err := run(*messages, *latency, *concurrency, *cpuProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "bench: correctness checks failed (see the table above)")
		os.Exit(1)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(n, samples, concurrency int, cpuProfile string) (bool, error) {
	ctx := context.Background()
	loadBefore := loadavg()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	slog.SetDefault(logger)
	// The intake's warnings ("message not processed; will retry") matter here.
	intakeLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	services, err := stack.Start(ctx, stack.Options{Name: "bench-intake", Elasticsearch: true,
		Temporal: true, SetupNamespace: workflows.EnsureNamespace, Logger: logger})
	if err != nil {
		return false, err
	}
	defer services.Close()
	pg, es, st, ix, tc := services.PG, services.ES, services.Store, services.Index, services.Client
	imapPort, err := localsvc.FreePort()
	if err != nil {
		return false, err
	}
	lmtpPort, err := localsvc.FreePort()
	if err != nil {
		return false, err
	}
	dc, err := localsvc.StartDovecot(ctx, localsvc.DovecotOptions{DataDir: filepath.Join(services.Dir, "dovecot"), IMAPPort: imapPort, LMTPPort: lmtpPort})
	if err != nil {
		return false, err
	}
	defer dc.Stop()

	mb := config.Mailbox{Name: "bench-support", Address: supportAddress, Host: "127.0.0.1", Port: dc.IMAPPort(),
		Security: "none", User: supportAddress, Password: dc.Password(), Folder: "INBOX",
		Processed: "move", ProcessedFolder: "Processed", PollInterval: config.Duration(30 * time.Second)}
	cfg := services.Config
	cfg.Mailboxes = []config.Mailbox{mb}
	cfg.MailRateLimit = 0 // one benchmark sender pool; the limit is not what is measured
	tw := worker.New(worker.Deps{Client: tc, TaskQueue: cfg.TaskQueue, Store: st, Index: ix, Logger: logger,
		IdempotencyTTL: cfg.IdempotencyTTL.D(), DefaultAgentCapacity: cfg.DefaultAgentCapacity})
	if err := tw.Start(); err != nil {
		return false, err
	}
	defer tw.Stop()

	ident := identity.New(st.Pool())
	proc := intake.NewProcessor(st, ident, tc, cfg, intakeLog)
	startPoller := func() (stop func()) {
		p := &intake.Poller{Mailbox: mb, Processor: proc, Store: st, Log: intakeLog, Concurrency: concurrency}
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.Run(pctx)
		}()
		return func() { cancel(); <-done }
	}
	deliver := func(m mail) error {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return dc.Deliver(dctx, m.fromEmail, []string{supportAddress}, m.raw)
	}
	durable := func(keys []string) (int, error) {
		var c int
		err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM mail_messages WHERE outcome <> 'processing' AND dedupe_key = ANY($1)`, keys).Scan(&c)
		return c, err
	}
	waitDurable := func(keys []string, timeout time.Duration) (time.Duration, error) {
		t0 := time.Now()
		for {
			c, err := durable(keys)
			if err != nil {
				return 0, err
			}
			if c == len(keys) {
				return time.Since(t0), nil
			}
			if time.Since(t0) > timeout {
				return 0, fmt.Errorf("%d of %d messages durable after %s", c, len(keys), timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	stamp := time.Now().UTC().Format("20060102T150405")
	gen := &generator{stamp: stamp}

	// Warm-up: 100 new tickets through the poller (connections, caches,
	// the JVM); the timed run's replies thread onto them.
	warm := make([]mail, warmupCount)
	var warmKeys []string
	for i := range warm {
		warm[i] = gen.newTicket()
		warmKeys = append(warmKeys, warm[i].key)
		if err := deliver(warm[i]); err != nil {
			return false, fmt.Errorf("warm-up delivery: %w", err)
		}
	}
	stop := startPoller()
	if _, err := waitDurable(warmKeys, 5*time.Minute); err != nil {
		stop()
		return false, fmt.Errorf("warm-up: %w", err)
	}
	stop()
	warmTicket := map[string]int64{} // dedupe key → ticket number
	for _, m := range warm {
		row, err := st.MailByDedupeKey(ctx, m.key)
		if err != nil {
			return false, err
		}
		if row.Outcome != "ticket" || row.TicketNumber == nil {
			return false, fmt.Errorf("warm-up message %s: outcome %q (%s), want a ticket", m.key, row.Outcome, row.Reason)
		}
		warmTicket[m.key] = *row.TicketNumber
	}

	// Throughput: N messages waiting in the inbox, then the poller starts.
	batch := make([]mail, n)
	var keys []string
	replies := 0
	for i := range batch {
		if i%5 == 4 {
			batch[i] = gen.reply(warm[replies%warmupCount])
			replies++
		} else {
			batch[i] = gen.newTicket()
		}
		keys = append(keys, batch[i].key)
	}
	var rawBytes int
	tDeliver := time.Now()
	for _, m := range batch {
		rawBytes += len(m.raw)
		if err := deliver(m); err != nil {
			return false, fmt.Errorf("delivery: %w", err)
		}
	}
	deliverTime := time.Since(tDeliver)
	use := func() cpuUse {
		_, self := cpuTimes()
		return cpuUse{self: self, pg: pg.CPUTime(), es: es.CPUTime(), dovecot: dc.CPUTime()}
	}
	// What the idle stack uses (Temporal's and Elasticsearch's background
	// work) is subtracted from the run's CPU, so runs of different length
	// compare per message.
	const idleFor = 5 * time.Second
	idle0 := use()
	time.Sleep(idleFor)
	idle := use().sub(idle0)
	var prof *os.File
	if cpuProfile != "" {
		if prof, err = os.Create(cpuProfile); err != nil {
			return false, err
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			return false, err
		}
	}
	cpu0, _ := cpuTimes()
	use0 := use()
	pollerStart := time.Now()
	stop = startPoller()
	defer func() { stop() }()
	ingest, err := waitDurable(keys, 15*time.Minute)
	if err != nil {
		return false, fmt.Errorf("throughput run: %w", err)
	}
	cpu1, _ := cpuTimes()
	use1 := use()
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	run := use1.sub(use0)
	net := run.sub(idle.scale(float64(ingest) / float64(idleFor)))
	// From the rows: when the first and the last message became durable
	// (sustained rate without the session start-up), and how long each
	// spent between its claim and durable.
	var firstDone, lastDone time.Time
	if err := st.Pool().QueryRow(ctx, `SELECT min(done_at), max(done_at) FROM mail_messages WHERE dedupe_key = ANY($1)`, keys).Scan(&firstDone, &lastDone); err != nil {
		return false, err
	}
	var perMsg []time.Duration
	prow, err := st.Pool().Query(ctx, `SELECT extract(epoch FROM done_at - created_at) FROM mail_messages WHERE dedupe_key = ANY($1)`, keys)
	if err != nil {
		return false, err
	}
	for prow.Next() {
		var sec float64
		if err := prow.Scan(&sec); err != nil {
			return false, err
		}
		perMsg = append(perMsg, time.Duration(sec*float64(time.Second)))
	}
	prow.Close()
	sortDur(perMsg)

	// Latency: the poller is idle in IDLE; APPEND one message at a time
	// from a second IMAP client.
	ic, err := imapclient.DialInsecure(dc.IMAPAddr(), nil)
	if err != nil {
		return false, err
	}
	defer ic.Close()
	if err := ic.Login(supportAddress, dc.Password()).Wait(); err != nil {
		return false, err
	}
	time.Sleep(time.Second) // let the last moves of the batch settle and the poller enter IDLE
	var lat, appendLat, toClaim, claimToDone []time.Duration
	var latKeys []string
	latFailures := 0
	for i := 0; i < samples; i++ {
		m := gen.newTicket()
		latKeys = append(latKeys, m.key)
		t0 := time.Now()
		if err := appendMsg(ic, "INBOX", m.raw); err != nil {
			return false, fmt.Errorf("APPEND: %w", err)
		}
		appendLat = append(appendLat, time.Since(t0))
		for {
			var outcome string
			var hasTicket bool
			var created time.Time
			err := st.Pool().QueryRow(ctx, `SELECT m.outcome, EXISTS (SELECT 1 FROM tickets t WHERE t.number = m.ticket_number), m.created_at
				FROM mail_messages m WHERE m.dedupe_key = $1`, m.key).Scan(&outcome, &hasTicket, &created)
			if err == nil && outcome != "processing" {
				if outcome == "ticket" && hasTicket {
					now := time.Now()
					lat = append(lat, now.Sub(t0))
					// created_at is the claim (PostgreSQL's clock, same machine).
					toClaim = append(toClaim, created.Sub(t0))
					claimToDone = append(claimToDone, now.Sub(created))
				} else {
					latFailures++
					fmt.Fprintf(os.Stderr, "latency sample %d: outcome %q, ticket row %v\n", i, outcome, hasTicket)
				}
				break
			}
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return false, err
			}
			if time.Since(t0) > 60*time.Second {
				latFailures++
				fmt.Fprintf(os.Stderr, "latency sample %d: not durable after 60s\n", i)
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Correctness.
	type check struct {
		name      string
		want, got int
	}
	var checks []check
	q := func(sql string, args ...any) int {
		var c int
		if err := st.Pool().QueryRow(ctx, sql, args...).Scan(&c); err != nil {
			fmt.Fprintln(os.Stderr, "check query:", err)
			return -1
		}
		return c
	}
	var replyKeys []string
	newInBatch := 0
	for i, m := range batch {
		if i%5 == 4 {
			replyKeys = append(replyKeys, m.key)
		} else {
			newInBatch++
		}
	}
	// Which ticket each reply should have landed on.
	threadedRight := 0
	rows, err := st.Pool().Query(ctx, `SELECT dedupe_key, ticket_number FROM mail_messages WHERE outcome = 'comment' AND dedupe_key = ANY($1)`, replyKeys)
	if err != nil {
		return false, err
	}
	want := map[string]int64{}
	for i, m := range batch {
		if i%5 == 4 {
			want[m.key] = warmTicket[m.parentKey]
		}
	}
	for rows.Next() {
		var k string
		var tn *int64
		if err := rows.Scan(&k, &tn); err != nil {
			return false, err
		}
		if tn != nil && *tn == want[k] {
			threadedRight++
		}
	}
	rows.Close()
	allKeys := append(append(append([]string{}, warmKeys...), keys...), latKeys...)
	newTickets := warmupCount + newInBatch + samples
	checks = append(checks,
		check{"mail rows, one per message", len(allKeys), q(`SELECT count(*) FROM mail_messages WHERE dedupe_key = ANY($1)`, allKeys)},
		check{"run: outcome ticket", newInBatch, q(`SELECT count(*) FROM mail_messages WHERE outcome = 'ticket' AND dedupe_key = ANY($1)`, keys)},
		check{"run: outcome comment", len(replyKeys), q(`SELECT count(*) FROM mail_messages WHERE outcome = 'comment' AND dedupe_key = ANY($1)`, keys)},
		check{"run: replies on the ticket they answer", len(replyKeys), threadedRight},
		check{"latency: outcome ticket with ticket row", samples, len(lat)},
		check{"tickets (distinct per new message)", newTickets, q(`SELECT count(DISTINCT ticket_number) FROM mail_messages WHERE outcome = 'ticket' AND dedupe_key = ANY($1)`, allKeys)},
		check{"tickets in the database", newTickets, q(`SELECT count(*) FROM tickets`)},
		check{"tickets sharing a subject (doubles)", 0, q(`SELECT count(*) FROM (SELECT subject FROM tickets GROUP BY subject HAVING count(*) > 1) d`)},
		check{"comments in the database", len(replyKeys), q(`SELECT count(*) FROM comments`)},
		check{"quarantined", 0, q(`SELECT count(*) FROM mail_quarantine`)},
	)
	// The inbox empties once the last moves are done.
	inbox, processed := -1, -1
	for t0 := time.Now(); time.Since(t0) < 20*time.Second; time.Sleep(200 * time.Millisecond) {
		inbox, processed = folderCount(ic, "INBOX"), folderCount(ic, "Processed")
		if inbox == 0 && processed == len(allKeys) {
			break
		}
	}
	checks = append(checks, check{"IMAP: left in INBOX", 0, inbox}, check{"IMAP: in Processed", len(allKeys), processed})
	loadAfter := loadavg()

	sortDur(lat)
	sortDur(appendLat)
	sortDur(toClaim)
	sortDur(claimToDone)
	rate := float64(n) / ingest.Seconds()
	fmt.Printf("machine: %d CPUs, %s/%s, %s; Dovecot, PostgreSQL and Elasticsearch local, Temporal embedded (in-memory SQLite); poller in process, concurrency %d\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), concurrency)
	fmt.Printf("run: %s UTC; load average before %s, after %s\n\n", time.Now().UTC().Format("2006-01-02 15:04"), loadBefore, loadAfter)
	fmt.Println("| throughput run | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| messages (new tickets / replies) | %d (%d / %d), %.1f KiB on average |\n", n, newInBatch, len(replyKeys), float64(rawBytes)/float64(n)/1024)
	fmt.Printf("| LMTP delivery into the inbox, poller stopped (not timed) | %s |\n", deliverTime.Round(time.Millisecond))
	fmt.Printf("| poller start → all %d durable | %s |\n", n, ingest.Round(time.Millisecond))
	fmt.Printf("| **throughput** (target ≥ 40 messages/s) | **%.1f messages/s** %s |\n", rate, verdict(rate >= 40))
	fmt.Printf("| poller start → first durable (log in, lock, select, search) | %s |\n", firstDone.Sub(pollerStart).Round(time.Millisecond))
	fmt.Printf("| sustained, first → last durable | %.1f messages/s |\n", float64(n-1)/lastDone.Sub(firstDone).Seconds())
	fmt.Printf("| per message, claimed → durable, p50 / p99 | %s / %s |\n", ms(pct(perMsg, 0.5)), ms(pct(perMsg, 0.99)))
	if busy, total := cpu1.busy-cpu0.busy, cpu1.total-cpu0.total; total > 0 {
		cores := float64(runtime.NumCPU())
		fmt.Printf("| CPU during the run: whole machine busy / this process (Temporal server, worker, poller) | %.0f%% / %.0f%% of %d cores |\n",
			100*float64(busy)/float64(total), 100*run.self.Seconds()/ingest.Seconds()/cores, runtime.NumCPU())
	}
	ms1 := func(d time.Duration) string {
		return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)/float64(n))
	}
	for _, r := range []struct {
		what string
		u    cpuUse
	}{{"", run}, {", less the idle stack's", net}} {
		u := r.u
		fmt.Printf("| CPU per message%s, ms: this process / PostgreSQL / Elasticsearch / Dovecot = total | %s / %s / %s / %s = %s |\n",
			r.what, ms1(u.self), ms1(u.pg), ms1(u.es), ms1(u.dovecot), ms1(u.self+u.pg+u.es+u.dovecot))
	}
	fmt.Println()
	fmt.Println("| latency, APPEND → durable ticket, poller idle in IDLE | p50 | p90 | p99 | max |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| %d sequential samples (target p99 ≤ 2 s) %s | %s | %s | %s | %s |\n", len(lat), verdict(len(lat) > 0 && pct(lat, 0.99) <= 2*time.Second),
		ms(pct(lat, 0.50)), ms(pct(lat, 0.90)), ms(pct(lat, 0.99)), ms(pct(lat, 1)))
	fmt.Printf("| of which the APPEND itself | %s | %s | %s | %s |\n", ms(pct(appendLat, 0.50)), ms(pct(appendLat, 0.90)), ms(pct(appendLat, 0.99)), ms(pct(appendLat, 1)))
	fmt.Printf("| APPEND start → mail row claimed (IDLE wake-up, FETCH, parse) | %s | %s | %s | %s |\n", ms(pct(toClaim, 0.50)), ms(pct(toClaim, 0.90)), ms(pct(toClaim, 0.99)), ms(pct(toClaim, 1)))
	fmt.Printf("| claimed → durable ticket seen (requester, number, Update-with-Start) | %s | %s | %s | %s |\n", ms(pct(claimToDone, 0.50)), ms(pct(claimToDone, 0.90)), ms(pct(claimToDone, 0.99)), ms(pct(claimToDone, 1)))
	fmt.Println()
	fmt.Println("| correctness check | expected | got |")
	fmt.Println("|---|---|---|")
	ok := latFailures == 0
	for _, c := range checks {
		mark := ""
		if c.got != c.want {
			mark = " ✗"
			ok = false
		}
		fmt.Printf("| %s | %d | %d%s |\n", c.name, c.want, c.got, mark)
	}
	return ok, nil
}

func verdict(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(missed)"
}

func sortDur(d []time.Duration) { sort.Slice(d, func(a, b int) bool { return d[a] < d[b] }) }

// pct is the nearest-rank percentile of sorted d.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p+0.999999) - 1
	i = max(0, min(i, len(d)-1))
	return d[i]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func appendMsg(c *imapclient.Client, mailbox string, raw []byte) error {
	cmd := c.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

func folderCount(c *imapclient.Client, folder string) int {
	s, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || s.NumMessages == nil {
		return -1
	}
	return int(*s.NumMessages)
}

// mail is one generated message.
type mail struct {
	raw       []byte
	key       string // mail_messages.dedupe_key
	fromEmail string
	fromName  string
	subject   string
	messageID string
	parentKey string // for replies: the warm-up message answered
}

type generator struct {
	stamp string
	seq   int
}

var firstNames = []string{"Dana", "Lukas", "Priya", "Tomás", "Mei", "Olu", "Sven", "Aisha", "Marco", "Hanna"}
var lastNames = []string{"Ríos", "Berger", "Raman", "Novak", "Chen"}

// sender i of the pool of 50 (10 first names × 5 last names).
func sender(i int) (name, email string) {
	f, l := firstNames[i%10], lastNames[(i/10)%5]
	email = strings.ToLower(fmt.Sprintf("%s.%s@customer%d.example", asciiFold(f), asciiFold(l), i%7+1))
	return f + " " + l, email
}

func asciiFold(s string) string {
	return strings.NewReplacer("í", "i", "á", "a", "é", "e", "ó", "o").Replace(s)
}

var topics = []struct{ subject, problem, detail string }{
	{"VPN drops every few minutes", "my VPN connection drops every few minutes since the client update on Monday",
		"It reconnects on its own after about thirty seconds, but any open remote desktop session is lost. It happens on the office wifi and at home."},
	{"Cannot log in to the expense portal", "I cannot log in to the expense portal: it says my password has expired, but the reset link never arrives",
		"I checked the spam folder. Colleagues on my team can log in fine."},
	{"Printer on the 3rd floor shows paper jam", "the printer next to the kitchen on the third floor reports a paper jam in tray 2",
		"We opened every flap we could find and there is no paper stuck anywhere. The display keeps showing the same error after a restart."},
	{"Invoice shows the wrong billing address", "the invoice we received this month still shows our old billing address",
		"We moved offices in March and updated the address in the portal then. Our accounting cannot book the invoice like this."},
	{"Laptop battery drains overnight", "my laptop battery is empty every morning even though I close the lid in the evening",
		"It looks as if it never goes to sleep. The fan is sometimes still running when I take it out of the bag."},
	{"Request: access to the shared marketing drive", "I started in the marketing team last week and need access to the shared drive",
		"My manager already approved it by email. Read and write access would be needed, for the campaign folders at least."},
	{"Order arrived damaged", "the order we received yesterday arrived with two of the monitors damaged",
		"The boxes looked fine from the outside, but both screens are cracked in the corner. Photos are available if you need them."},
	{"Two-factor codes are rejected", "the codes from my authenticator app are rejected every time I log in",
		"The clock on my phone is set automatically. I tried three codes in a row, all refused."},
}

const htmlTemplate = `<html><body><p>Hello,</p><p>%s.</p><p>%s</p><p>Order/reference: <b>%s</b></p><p>Best regards,<br>%s</p></body></html>`

// newTicket is a new message from one of the 50 senders, plain text or
// multipart/alternative with HTML.
func (g *generator) newTicket() mail {
	g.seq++
	i := g.seq
	name, email := sender(i % 50)
	t := topics[i%len(topics)]
	ref := fmt.Sprintf("HD-%s-%05d", g.stamp, i)
	m := mail{fromEmail: email, fromName: name, subject: fmt.Sprintf("%s (ref %s)", t.subject, ref),
		messageID: fmt.Sprintf("bench.%s.%d@customer.example", g.stamp, i)}
	text := fmt.Sprintf("Hello,\n\n%s.\n\n%s\n\nThe reference of the order or device is %s, in case you need it. I am available all week if you want to call me; my number is in the signature.\n\nThank you in advance for looking into it.\n\nBest regards,\n%s\n--\n%s\nPhone +49 30 1234 %04d\n",
		t.problem, t.detail, ref, name, name, i%10000)
	var body bytes.Buffer
	var ctype string
	if i%3 == 0 {
		boundary := fmt.Sprintf("=_bench_%d", i)
		ctype = "multipart/alternative; boundary=\"" + boundary + "\""
		fmt.Fprintf(&body, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", boundary, crlf(text))
		fmt.Fprintf(&body, "--%s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", boundary,
			fmt.Sprintf(htmlTemplate, t.problem, t.detail, ref, name))
		fmt.Fprintf(&body, "--%s--\r\n", boundary)
	} else {
		ctype = "text/plain; charset=utf-8"
		body.WriteString(crlf(text))
	}
	m.raw = build(m, ctype, nil, body.Bytes())
	m.key = "mid:" + strings.ToLower(m.messageID)
	return m
}

// reply answers parent (a warm-up message), from its sender, with the
// quoted original below.
func (g *generator) reply(parent mail) mail {
	g.seq++
	i := g.seq
	m := mail{fromEmail: parent.fromEmail, fromName: parent.fromName, subject: "Re: " + parent.subject,
		messageID: fmt.Sprintf("bench.%s.%d@customer.example", g.stamp, i), parentKey: parent.key}
	text := fmt.Sprintf("Hi,\n\na quick update (message %d): it happened again this morning at 09:%02d, so the problem is still there.\n\nIs there anything I can try in the meantime?\n\n%s\n\nOn Mon, 30 Nov 2026 at 09:00, %s <%s> wrote:\n> Hello,\n> this is the original request.\n> Best regards\n",
		i, i%60, parent.fromName, parent.fromName, parent.fromEmail)
	hdr := map[string]string{"In-Reply-To": "<" + parent.messageID + ">", "References": "<" + parent.messageID + ">"}
	m.raw = build(m, "text/plain; charset=utf-8", hdr, []byte(crlf(text)))
	m.key = "mid:" + strings.ToLower(m.messageID)
	return m
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func build(m mail, ctype string, extra map[string]string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: Support <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n",
		mime.QEncoding.Encode("utf-8", m.fromName), m.fromEmail, supportAddress, m.subject, time.Now().Format(time.RFC1123Z), m.messageID)
	for _, k := range []string{"In-Reply-To", "References"} {
		if v, ok := extra[k]; ok {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: %s\r\n", ctype)
	if !strings.HasPrefix(ctype, "multipart/") {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// cpuUse is CPU time used by this process (poller, worker, embedded
// Temporal) and by the PostgreSQL, Elasticsearch and Dovecot servers.
type cpuUse struct{ self, pg, es, dovecot time.Duration }

func (c cpuUse) sub(o cpuUse) cpuUse {
	return cpuUse{c.self - o.self, c.pg - o.pg, c.es - o.es, c.dovecot - o.dovecot}
}

func (c cpuUse) scale(f float64) cpuUse {
	m := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
	return cpuUse{m(c.self), m(c.pg), m(c.es), m(c.dovecot)}
}

type cpuStat struct{ busy, total uint64 }

// cpuTimes reads the machine's CPU counters (/proc/stat, in ticks) and this
// process's CPU time (user + system).
func cpuTimes() (cpuStat, time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var c cpuStat
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c, self
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		c.total += n
		if i != 3 && i != 4 { // idle, iowait
			c.busy += n
		}
	}
	return c, self
}
