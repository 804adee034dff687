import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, getTicket, isStaff, listTeams, reopenTicket, type CustomField, type Team, type Ticket, type User } from './api';
import { Attachments } from './Attachments';
import { TicketMail } from './TicketMail';
import { Badge, EscalationBadge } from './Badge';
import { CommentForm } from './CommentForm';
import { fieldLabel, fieldValueText, sortFields, useAllFields, useCategories } from './CustomFields';
import { useIdempotencyKeys } from './idempotency';
import { Link, navigate, takeFlash, ticketPath } from './router';
import { TicketControls } from './TicketControls';
import { localTime, relativeTime, slaSummary, useNow } from './time';
import { Timeline, type Names } from './Timeline';
import { useHistory } from './useHistory';
import { RetryAlert } from './RetryAlert';

type Load = { kind: 'loading' } | { kind: 'missing' } | { kind: 'error'; message: string } | { kind: 'ready'; ticket: Ticket };

interface Props {
  id: number;
  user: User;
}

/** One ticket: its facts, what staff can change, the timeline, replies and files. */
export function TicketDetail({ id, user }: Props) {
  const staff = isStaff(user);
  const [load, setLoad] = useState<Load>({ kind: 'loading' });
  const [status, setStatus] = useState('');
  const [teams, setTeams] = useState<Team[]>([]);
  const [filesKey, setFilesKey] = useState(0);
  const history = useHistory(id);
  const now = useNow(30_000);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const focused = useRef(false);

  const fetchTicket = useCallback(async () => {
    try {
      const t = await getTicket(id);
      setLoad({ kind: 'ready', ticket: t });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setLoad({ kind: 'missing' });
      else {
        const message = err instanceof ApiError ? err.userMessage : 'Could not load the ticket.';
        // Keep showing a ticket already loaded; say the refresh failed.
        setLoad((cur) => (cur.kind === 'ready' ? cur : { kind: 'error', message }));
        setStatus(`Could not refresh the ticket. ${message}`);
      }
    }
  }, [id]);

  useEffect(() => {
    void fetchTicket();
  }, [fetchTicket]);

  useEffect(() => {
    if (!staff) return;
    let live = true;
    listTeams().then(
      (t) => live && setTeams(t),
      () => {}, // names fall back to "team #id"
    );
    return () => {
      live = false;
    };
  }, [staff]);

  useEffect(() => {
    const flash = takeFlash();
    if (flash) setStatus(flash);
  }, []);

  useEffect(() => {
    if (!status) return;
    const t = setTimeout(() => setStatus(''), 6000);
    return () => clearTimeout(t);
  }, [status]);

  const ticket = load.kind === 'ready' ? load.ticket : null;

  useEffect(() => {
    document.title = ticket ? `#${ticket.id} ${ticket.subject} · helpdesk` : `Ticket #${id} · helpdesk`;
  }, [id, ticket]);

  // Once the ticket shows, move focus to its heading so keyboard and screen
  // reader users start there after following a link.
  useEffect(() => {
    if (ticket && !focused.current) {
      focused.current = true;
      headingRef.current?.focus();
    }
  }, [ticket]);

  const categories = useCategories(staff);
  const fields = useAllFields();

  const names = useMemo<Names>(() => {
    const emails = new Map<number, string>();
    for (const it of history.items) {
      // Requesters get staff members by name, without their email.
      if (typeof it.actor === 'object') {
        const shown = it.actor.email ?? it.actor.name;
        if (shown) emails.set(it.actor.id, shown);
      }
    }
    if (ticket?.assignee_id != null && ticket.assignee) emails.set(ticket.assignee_id, ticket.assignee);
    const teamNames = new Map(teams.map((t) => [t.id, t.name]));
    const categoryPaths = new Map((categories.data ?? []).map((c) => [c.id, c.path]));
    if (ticket?.category_id != null && ticket.category) categoryPaths.set(ticket.category_id, ticket.category);
    const defs = new Map((fields.data ?? []).map((f) => [f.key, f]));
    return {
      user: (uid) => (uid == null ? 'nobody' : uid === user.id ? 'you' : (emails.get(uid) ?? `user #${uid}`)),
      team: (tid) => (tid == null ? 'no team' : (teamNames.get(tid) ?? `team #${tid}`)),
      category: (cid) => (cid == null ? 'no category' : (categoryPaths.get(cid) ?? `category #${cid}`)),
      field: (key) => defs.get(key),
    };
  }, [history.items, ticket, teams, user.id, categories.data, fields.data]);

  function changed(t: Ticket, announcement: string | null) {
    setLoad({ kind: 'ready', ticket: t });
    if (announcement) setStatus(announcement);
    void history.catchUp();
  }

  function refreshAll() {
    void fetchTicket();
    void history.catchUp();
    setFilesKey((k) => k + 1);
  }

  return (
    <main id="main" className="detail">
      <div className="status-slot" role="status" aria-live="polite">
        {status ? <div className="toast">{status}</div> : null}
      </div>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/">← All tickets</Link>
      </nav>

      {load.kind === 'loading' ? (
        <p className="empty">Loading ticket #{id}…</p>
      ) : load.kind === 'missing' ? (
        <section className="card">
          <h2>Ticket #{id} not found</h2>
          <p>It does not exist, or you may not see it.</p>
          <p>
            <Link to="/">Back to the tickets</Link>
          </p>
        </section>
      ) : load.kind === 'error' ? (
        <RetryAlert message={load.message} onRetry={() => void fetchTicket()} />
      ) : ticket ? (
        <div className="detail-grid">
          <div className="detail-main">
            <article className="card ticket-head" aria-labelledby="ticket-heading" data-testid="ticket-detail" data-ticket-id={ticket.id} data-status={ticket.status}>
              <div className="ticket-head-top">
                <p className="ticket-number">Ticket #{ticket.id}</p>
                <button type="button" className="button-ghost" onClick={refreshAll}>
                  Refresh
                </button>
              </div>
              <h2 id="ticket-heading" ref={headingRef} tabIndex={-1}>
                {ticket.subject}
              </h2>
              <div className="badges">
                <span data-testid="ticket-status">
                  <Badge kind="status" value={ticket.status} />
                </span>
                <span data-testid="ticket-priority">
                  <Badge kind="priority" value={ticket.priority} />
                </span>
                {staff ? <EscalationBadge level={ticket.escalation_level} /> : null}
              </div>
              <Facts ticket={ticket} staff={staff} names={names} now={now} />
              <FieldValues ticket={ticket} names={names} order={fields.data} />
              {ticket.description ? (
                <div className="description">{ticket.description}</div>
              ) : (
                <p className="muted">No description.</p>
              )}
              {ticket.linked_ticket ? (
                <p className="muted">
                  Follows up <Link to={ticketPath(ticket.linked_ticket)}>ticket #{ticket.linked_ticket}</Link>.
                </p>
              ) : null}
              {ticket.archived_at ? (
                <p className="notice">Closed for good {relativeTime(ticket.archived_at, now)}: its reopen window has ended.</p>
              ) : null}
            </article>

            <section className="card" aria-labelledby="activity-heading">
              <h2 id="activity-heading">Activity</h2>
              <Timeline ticketId={ticket.id} history={history} names={names} now={now} />
            </section>

            <section className="card" aria-labelledby="reply-heading">
              <h2 id="reply-heading">{staff ? 'Add a comment' : 'Reply to the team'}</h2>
              <CommentForm
                ticket={ticket}
                staff={staff}
                onPosted={(internal) => {
                  setStatus(internal ? 'Internal note added.' : 'Reply sent.');
                  // A reply can move the status (reopen, first response).
                  void fetchTicket();
                  void history.catchUp();
                }}
                onFollowUp={(t) => navigate(ticketPath(t.id), { flash: `Your reply opened a new ticket, #${t.id}.` })}
              />
            </section>
          </div>

          <aside className="detail-side">
            {staff ? (
              <section className="card" aria-labelledby="work-heading">
                <h2 id="work-heading">Work this ticket</h2>
                <TicketControls ticket={ticket} user={user} onChanged={changed} />
              </section>
            ) : (
              <ReopenCard ticket={ticket} onChanged={changed} />
            )}
            <section className="card" aria-labelledby="files-heading">
              <h2 id="files-heading">Attachments</h2>
              <Attachments
                ticket={ticket}
                staff={staff}
                refreshKey={filesKey}
                onUploaded={(a) => {
                  setStatus(`${a.filename} uploaded.`);
                  void history.catchUp();
                }}
              />
            </section>
            {staff ? <TicketMail ticketId={ticket.id} refreshKey={filesKey} /> : null}
          </aside>
        </div>
      ) : null}
    </main>
  );
}

function Facts({ ticket, staff, names, now }: { ticket: Ticket; staff: boolean; names: Names; now: number }) {
  const sla = slaSummary(ticket.sla_due_at, ticket.status, now);
  return (
    <dl className="facts">
      <div>
        <dt>Assignee</dt>
        <dd data-testid="ticket-assignee">
          {staff ? (ticket.assignee ?? 'Unassigned') : ticket.assigned ? 'An agent is on it' : 'Not assigned yet'}
        </dd>
      </div>
      {staff ? (
        <div>
          <dt>Team</dt>
          <dd data-testid="ticket-team">{ticket.team_id == null ? 'None' : names.team(ticket.team_id)}</dd>
        </div>
      ) : null}
      {staff ? (
        <div>
          <dt>SLA</dt>
          <dd data-testid="ticket-sla" className={`sla-${sla.state}`}>
            {ticket.sla_due_at ? (
              <time dateTime={ticket.sla_due_at} title={localTime(ticket.sla_due_at)}>
                {sla.text}
              </time>
            ) : (
              sla.text
            )}
          </dd>
        </div>
      ) : null}
      <div>
        <dt>Category</dt>
        <dd data-testid="ticket-category">{ticket.category_id == null ? 'None' : names.category(ticket.category_id)}</dd>
      </div>
      {ticket.requester_id != null ? (
        <div>
          <dt>Requester</dt>
          <dd>{names.user(ticket.requester_id)}</dd>
        </div>
      ) : null}
      <div>
        <dt>Created</dt>
        <dd>
          <time dateTime={ticket.created_at} title={localTime(ticket.created_at)}>
            {relativeTime(ticket.created_at, now)}
          </time>
        </dd>
      </div>
      <div>
        <dt>Updated</dt>
        <dd>
          <time dateTime={ticket.updated_at} title={localTime(ticket.updated_at)}>
            {relativeTime(ticket.updated_at, now)}
          </time>
        </dd>
      </div>
    </dl>
  );
}

/** The ticket's custom field values by their labels, in the fields' form order; retired fields too (their values are kept). */
function FieldValues({ ticket, names, order }: { ticket: Ticket; names: Names; order: readonly CustomField[] | null }) {
  const values = ticket.custom_fields ?? {};
  const keys = Object.keys(values);
  if (keys.length === 0 && !ticket.tags?.length) return null;
  const rank = new Map(sortFields(order ?? []).map((f, i) => [f.key, i]));
  keys.sort((a, b) => (rank.get(a) ?? 1e9) - (rank.get(b) ?? 1e9) || a.localeCompare(b));
  return (
    <dl className="facts field-values" aria-label="Fields" data-testid="ticket-fields">
      {keys.map((key) => {
        const def = names.field(key);
        return (
          <div key={key} data-field-key={key}>
            <dt>{fieldLabel(def, key)}</dt>
            <dd>{fieldValueText(def, values[key], (id) => names.user(id))}</dd>
          </div>
        );
      })}
      {ticket.tags && ticket.tags.length > 0 ? (
        <div>
          <dt>Tags</dt>
          <dd data-testid="ticket-tags">{ticket.tags.join(', ')}</dd>
        </div>
      ) : null}
    </dl>
  );
}

/** Requesters: reopen a resolved or closed ticket. */
function ReopenCard({ ticket, onChanged }: { ticket: Ticket; onChanged: (t: Ticket, announcement: string | null) => void }) {
  const keys = useIdempotencyKeys();
  const [busy, setBusy] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  if (ticket.archived_at || (ticket.status !== 'resolved' && ticket.status !== 'closed')) return null;

  async function reopen() {
    if (busy) return;
    const key = keys.keyFor(`reopen:${ticket.id}:${ticket.updated_at}`);
    setBusy(true);
    setAlert(null);
    try {
      const t = await reopenTicket(ticket.id, key);
      keys.settle();
      onChanged(t, 'The ticket is open again.');
    } catch (err) {
      keys.settle(err);
      setAlert(err instanceof ApiError ? err.userMessage : 'Could not reopen the ticket.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="reopen-heading">
      <h2 id="reopen-heading">Not solved?</h2>
      <div className="alert-slot" role="alert">
        {alert ? <div className="alert">{alert}</div> : null}
      </div>
      <p className="muted">This ticket is {ticket.status}. Reopen it if the problem is back, or reply below.</p>
      <button type="button" className="button-primary" onClick={reopen} disabled={busy} aria-busy={busy || undefined}>
        Reopen
      </button>
    </section>
  );
}
