import { useId } from 'react';
import type { SortOrder, Ticket } from './api';
import { Badge } from './Badge';
import { CategoryOptions, useCategories } from './CustomFields';
import { Link, ticketPath } from './router';
import { localTime, relativeTime, slaSummary, useNow } from './time';
import { RetryAlert } from './RetryAlert';

interface Props {
  tickets: Ticket[];
  loading: boolean;
  loadingMore: boolean;
  error: string | null;
  hasMore: boolean;
  highlightId: number | null;
  sort: SortOrder;
  /** The category filter (null: every ticket). */
  categoryId: number | null;
  /** Agents, leads and admins: SLA column, the urgency sort and the "Next ticket" button. */
  staff: boolean;
  claiming: boolean;
  onSortChange: (sort: SortOrder) => void;
  onCategoryChange: (categoryId: number | null) => void;
  onNextTicket: () => void;
  onLoadMore: () => void;
  onRetry: () => void;
}

const SORTS: { value: SortOrder; label: string }[] = [
  { value: 'newest', label: 'Newest' },
  { value: 'urgency', label: 'Most urgent' },
];

export function TicketList({
  tickets,
  loading,
  loadingMore,
  error,
  hasMore,
  highlightId,
  sort,
  categoryId,
  staff,
  claiming,
  onSortChange,
  onCategoryChange,
  onNextTicket,
  onLoadMore,
  onRetry,
}: Props) {
  const now = useNow();
  const sortName = useId();
  const categoryFilterId = useId();
  // Archived categories too: old tickets keep theirs and can be found by it.
  const categories = useCategories(true).data ?? [];

  return (
    <section className="card card-list" aria-labelledby="tickets-heading" aria-busy={loading || loadingMore || undefined}>
      <div className="card-head">
        <h2 id="tickets-heading">Tickets</h2>
        <div className="list-tools">
          {staff ? (
            <fieldset className="segmented">
              <legend className="visually-hidden">Sort tickets</legend>
              {SORTS.map((s) => (
                <label key={s.value} className="segmented-option">
                  <input
                    type="radio"
                    name={sortName}
                    value={s.value}
                    checked={sort === s.value}
                    onChange={() => onSortChange(s.value)}
                  />
                  <span>{s.label}</span>
                </label>
              ))}
            </fieldset>
          ) : null}
          {categories.length > 0 || categoryId !== null ? (
            <div className="list-filter">
              <label htmlFor={categoryFilterId} className="visually-hidden">
                Category
              </label>
              <select
                id={categoryFilterId}
                name="category_id"
                data-testid="category-filter"
                value={categoryId === null ? '' : String(categoryId)}
                onChange={(e) => onCategoryChange(e.target.value === '' ? null : Number(e.target.value))}
              >
                <option value="">All categories</option>
                <CategoryOptions categories={categories} archived />
                {categoryId !== null && !categories.some((c) => c.id === categoryId) ? (
                  <option value={String(categoryId)}>category #{categoryId}</option>
                ) : null}
              </select>
            </div>
          ) : null}
          <button type="button" className="button-ghost" onClick={onRetry} disabled={loading}>
            Refresh
          </button>
          {staff ? (
            <button
              type="button"
              className="button-secondary button-small"
              onClick={onNextTicket}
              disabled={claiming}
              aria-busy={claiming || undefined}
              title="Take the most urgent unassigned ticket"
            >
              Next ticket
            </button>
          ) : null}
        </div>
      </div>

      {error ? (
        <RetryAlert message={error} onRetry={onRetry} />
      ) : null}

      {loading && tickets.length === 0 ? (
        <p className="empty">Loading tickets…</p>
      ) : tickets.length === 0 && !error ? (
        <p className="empty">
          {categoryId !== null ? 'No tickets in this category.' : 'No tickets yet. Create the first one with the form.'}
        </p>
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
                {staff ? <th scope="col">SLA</th> : null}
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {tickets.map((t) => {
                const sla = staff ? slaSummary(t.sla_due_at, t.status, now) : null;
                return (
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
                      <Link className="subject" to={ticketPath(t.id)}>
                        {t.subject}
                      </Link>
                      {t.category ? <span className="row-category">{t.category}</span> : null}
                      {staff && t.assignee ? <span className="assignee">Assigned to {t.assignee}</span> : null}
                    </td>
                    <td data-testid="ticket-status">
                      <Badge kind="status" value={t.status} />
                    </td>
                    <td data-testid="ticket-priority">
                      <Badge kind="priority" value={t.priority} />
                    </td>
                    {sla ? (
                      <td className={`col-sla sla-${sla.state}`} data-testid="ticket-sla">
                        {sla.state === 'none' ? '—' : sla.text}
                      </td>
                    ) : null}
                    <td className="col-created">
                      <time dateTime={t.created_at} title={localTime(t.created_at)}>
                        {relativeTime(t.created_at, now)}
                      </time>
                    </td>
                  </tr>
                );
              })}
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
