import type { ReactNode } from 'react';
import { attachmentHref, type Actor, type CustomField, type HistoryItem } from './api';
import { Badge, label } from './Badge';
import { fieldLabel, fieldValueText } from './CustomFields';
import { fileSize, localTime, relativeTime } from './time';
import type { TicketHistory } from './useHistory';
import { RetryAlert } from './RetryAlert';

export interface Names {
  /** A user's email (or "you"; a staff member's name for requesters) by id; falls back to "user #id". */
  user: (id: number | null | undefined) => string;
  /** A team's name by id; falls back to "team #id". */
  team: (id: number | null | undefined) => string;
  /** A category's path by id ("Hardware / Printers"); falls back to "category #id", "no category" for null. */
  category: (id: number | null | undefined) => string;
  /** A custom field's definition by key (retired ones too), when known. */
  field: (key: string) => CustomField | undefined;
}

function actorName(actor: Actor, names: Names): string {
  if (actor === 'system') return 'System';
  if (typeof actor === 'string') return actor;
  const name = names.user(actor.id);
  return name === 'you' ? 'You' : name;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function num(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

/** "escalation first_response_75" → "escalation first response 75". */
function reasonText(v: unknown): string | null {
  const r = str(v).trim();
  return r ? label(r) : null;
}

function Reason({ value }: { value: unknown }) {
  const r = reasonText(value);
  return r ? <span className="event-reason"> ({r})</span> : null;
}

/** fields_changed: {key: {from, to}} as "Printer model: Laserjet → Inkjet", by the fields' current labels. */
function FieldChanges({ changes, names }: { changes: unknown; names: Names }) {
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) return null;
  const entries = Object.entries(changes as Record<string, unknown>);
  if (entries.length === 0) return null;
  const userName = (id: number) => {
    const n = names.user(id);
    return n === 'you' ? 'you' : n;
  };
  return (
    <ul className="field-changes">
      {entries.map(([key, change]) => {
        const c = change && typeof change === 'object' ? (change as { from?: unknown; to?: unknown }) : {};
        const def = names.field(key);
        return (
          <li key={key} data-field-key={key}>
            <span className="field-change-label">{fieldLabel(def, key)}</span>: {fieldValueText(def, c.from, userName)} →{' '}
            {fieldValueText(def, c.to, userName)}
          </li>
        );
      })}
    </ul>
  );
}

/** What one entry says, after the actor's name. */
function describe(it: HistoryItem, ticketId: number, names: Names): ReactNode {
  const d = it.data;
  switch (it.kind) {
    case 'created':
      return (
        <>
          opened the ticket{d.priority ? <> with priority <Badge kind="priority" value={str(d.priority)} /></> : null}
        </>
      );
    case 'status_changed':
      return (
        <>
          changed the status from <Badge kind="status" value={str(d.from)} /> to <Badge kind="status" value={str(d.to)} />
          <Reason value={d.reason} />
        </>
      );
    case 'priority_changed':
      return (
        <>
          changed the priority from <Badge kind="priority" value={str(d.from)} /> to{' '}
          <Badge kind="priority" value={str(d.to)} />
          <Reason value={d.reason} />
        </>
      );
    case 'assigned': {
      const from = num(d.from);
      const to = num(d.to);
      const self = typeof it.actor === 'object' ? it.actor.id : null;
      let text: string;
      if (to === null) text = from === null || from === self ? 'unassigned the ticket' : `unassigned ${names.user(from)}`;
      else if (to === self) text = from === null ? 'took the ticket' : `took the ticket over from ${names.user(from)}`;
      else if (from === null) text = `assigned the ticket to ${names.user(to)}`;
      else text = `reassigned the ticket from ${names.user(from)} to ${names.user(to)}`;
      return (
        <>
          {text}
          <Reason value={d.reason} />
        </>
      );
    }
    case 'team_changed':
      return (
        <>
          moved the ticket from {num(d.from) === null ? 'no team' : names.team(num(d.from))} to{' '}
          {num(d.to) === null ? 'no team' : names.team(num(d.to))}
          <Reason value={d.reason} />
        </>
      );
    case 'subject_changed':
      return (
        <>
          changed the subject from “{str(d.from)}” to “{str(d.to)}”
        </>
      );
    case 'description_changed':
      return (
        <>
          changed the description
          <details className="event-details">
            <summary>Show the change</summary>
            <p className="event-old">Before: {str(d.from) || '(empty)'}</p>
            <p>After: {str(d.to) || '(empty)'}</p>
          </details>
        </>
      );
    case 'comment':
      return it.comment?.internal ? 'added an internal note' : 'replied';
    case 'attachment': {
      const a = it.attachment;
      if (!a) return 'attached a file';
      return (
        <>
          attached{' '}
          <a href={attachmentHref(ticketId, a.id)} download={a.filename}>
            {a.filename}
          </a>{' '}
          <span className="muted">({fileSize(a.size)})</span>
        </>
      );
    }
    case 'escalated':
      return (
        <>
          escalated the ticket to level {str(d.level)}
          <Reason value={d.reason || d.rule} />
        </>
      );
    case 'sla_breached':
      return (
        <>
          recorded an SLA breach: the {label(str(d.clock) || 'SLA')} target
          {d.due_at ? <> was due {localTime(str(d.due_at))}</> : null}
        </>
      );
    case 'expired':
      return (
        <>
          marked the ticket expired{d.after ? <> after {str(d.after)}</> : null}
          {d.action ? <> ({label(str(d.action))})</> : null}
        </>
      );
    case 'routed': {
      // The reason is the router's sentence (rule, strategy, agent and load): shown as written.
      const reason = str(d.reason).trim();
      return (
        <>
          routed the ticket
          {reason ? <span className="event-reason">: {reason}</span> : null}
        </>
      );
    }
    case 'category_changed':
      return (
        <>
          changed the category from {names.category(num(d.from))} to {names.category(num(d.to))}
          <Reason value={d.reason} />
        </>
      );
    case 'fields_changed': {
      const n = d.changes && typeof d.changes === 'object' ? Object.keys(d.changes).length : 0;
      return (
        <>
          changed {n === 1 ? 'a field' : 'the fields'}
          <Reason value={d.reason} />
          <FieldChanges changes={d.changes} names={names} />
        </>
      );
    }
    case 'archived':
      return <>closed the ticket for good: its reopen window ended</>;
    case 'policy_changed':
      return <>applied a new SLA policy</>;
    default:
      return <>{label(it.kind)}</>;
  }
}

interface Props {
  ticketId: number;
  history: TicketHistory;
  names: Names;
  now: number;
}

/** The ticket's activity, oldest first: changes, comments and attachments. */
export function Timeline({ ticketId, history, names, now }: Props) {
  const { items, loading, error, hasMore } = history;
  return (
    <div aria-busy={loading || undefined}>
      {error ? (
        <RetryAlert message={error} onRetry={() => void history.catchUp()} />
      ) : null}
      {items.length === 0 ? (
        <p className="empty">{loading ? 'Loading activity…' : 'No activity yet.'}</p>
      ) : (
        <ol className="timeline" data-testid="timeline">
          {items.map((it) => {
            const internal = Boolean(it.comment?.internal || it.attachment?.internal);
            const cls = `event event-${it.kind.replace(/_/g, '-')}${internal ? ' event-internal' : ''}`;
            return (
              <li
                key={it.seq}
                className={cls}
                data-testid="timeline-item"
                data-kind={it.kind}
                data-internal={internal || undefined}
              >
                <div className="event-line">
                  <span className="event-text">
                    <strong className="event-actor">{actorName(it.actor, names)}</strong> {describe(it, ticketId, names)}
                  </span>
                  {internal ? (
                    <span className="badge badge-internal">{it.kind === 'comment' ? 'Internal note' : 'Internal'}</span>
                  ) : null}
                  {it.comment?.unverified_sender ? (
                    <span
                      className="badge badge-unverified"
                      data-testid="unverified-sender"
                      title="Mailed from this address without proof that its owner sent it; it had no staff powers."
                    >
                      Unverified sender
                    </span>
                  ) : null}
                  <time className="event-time" dateTime={it.at} title={localTime(it.at)}>
                    {relativeTime(it.at, now)}
                  </time>
                </div>
                {it.comment ? <div className="comment-body">{it.comment.body}</div> : null}
              </li>
            );
          })}
        </ol>
      )}
      {hasMore ? (
        <div className="load-more">
          <button type="button" className="button-secondary" onClick={() => void history.loadMore()} disabled={loading}>
            {loading ? 'Loading…' : 'Show later activity'}
          </button>
        </div>
      ) : null}
    </div>
  );
}
