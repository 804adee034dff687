import { useEffect, useState } from 'react';
import type { Ticket } from './api';

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

export function relativeTime(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const seconds = Math.round((t - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  for (const [unit, size] of UNITS) {
    if (abs >= size || unit === 'minute') return rtf.format(Math.round(seconds / size), unit);
  }
  return iso;
}

function localTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : dtf.format(t);
}

/** Re-renders every 30 s so relative times stay current. */
function useNow(intervalMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

// Badges keep the API's lower-case words as text (CSS capitalizes them).
function label(value: string): string {
  return value.replace(/_/g, ' ');
}

function slug(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

export function Badge({ kind, value }: { kind: 'status' | 'priority'; value: string }) {
  return (
    <span className={`badge badge-${kind} badge-${kind}-${slug(value)}`} data-value={value}>
      {label(value)}
    </span>
  );
}

interface Props {
  tickets: Ticket[];
  loading: boolean;
  loadingMore: boolean;
  error: string | null;
  hasMore: boolean;
  highlightId: number | null;
  onLoadMore: () => void;
  onRetry: () => void;
}

export function TicketList({ tickets, loading, loadingMore, error, hasMore, highlightId, onLoadMore, onRetry }: Props) {
  const now = useNow();

  return (
    <section className="card card-list" aria-labelledby="tickets-heading" aria-busy={loading || loadingMore || undefined}>
      <div className="card-head">
        <h2 id="tickets-heading">Tickets</h2>
        <button type="button" className="button-ghost" onClick={onRetry} disabled={loading}>
          Refresh
        </button>
      </div>

      {error ? (
        <div className="alert alert-inline" role="alert">
          <span>{error}</span>
          <button type="button" className="button-link" onClick={onRetry}>
            Try again
          </button>
        </div>
      ) : null}

      {loading && tickets.length === 0 ? (
        <p className="empty">Loading tickets…</p>
      ) : tickets.length === 0 && !error ? (
        <p className="empty">No tickets yet. Create the first one with the form.</p>
      ) : tickets.length > 0 ? (
        <div className="table-wrap">
          <table className="tickets">
            <thead>
              <tr>
                <th scope="col" className="col-id">
                  #
                </th>
                <th scope="col">Subject</th>
                <th scope="col">Status</th>
                <th scope="col">Priority</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {tickets.map((t) => (
                <tr
                  key={t.id}
                  data-testid="ticket-row"
                  data-ticket-id={t.id}
                  data-status={t.status}
                  data-priority={t.priority}
                  className={t.id === highlightId ? 'row-new' : undefined}
                >
                  <td className="col-id">{t.id}</td>
                  <td className="col-subject">
                    <span className="subject">{t.subject}</span>
                    {t.assignee ? <span className="assignee">Assigned to {t.assignee}</span> : null}
                  </td>
                  <td data-testid="ticket-status">
                    <Badge kind="status" value={t.status} />
                  </td>
                  <td data-testid="ticket-priority">
                    <Badge kind="priority" value={t.priority} />
                  </td>
                  <td className="col-created">
                    <time dateTime={t.created_at} title={localTime(t.created_at)}>
                      {relativeTime(t.created_at, now)}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}

      {hasMore ? (
        <div className="load-more">
          <button type="button" className="button-secondary" onClick={onLoadMore} disabled={loadingMore}>
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        </div>
      ) : null}
    </section>
  );
}
