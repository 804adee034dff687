// The search results: a windowed list (fixed row height, only the rows in
// view and a few around them are in the DOM, so a thousand rows scroll as
// smoothly as ten), highlights, checkboxes with shift-click ranges, and
// the next page fetched as the end comes into view.
import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import type { SearchHit } from './api';
import { Badge } from './Badge';
import { Highlighted } from './Highlight';
import { Link, ticketPath } from './router';
import { relativeTime, useNow } from './time';
import { RetryAlert } from './RetryAlert';

/** Every row is this tall (styles.css .result keeps to it). */
export const ROW_HEIGHT = 64;
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 8;

/** What is selected: ids of loaded rows, or every ticket the query matches. */
export interface Selection {
  ids: ReadonlySet<number>;
  /** "Select all N matching": the bulk action goes by the query. */
  all: boolean;
  /** The row index a shift-click extends from. */
  anchor: number | null;
}

export const NO_SELECTION: Selection = { ids: new Set(), all: false, anchor: null };

export function isSelected(sel: Selection, id: number): boolean {
  return sel.all || sel.ids.has(id);
}

/**
 * Selection after a click on row index's checkbox. With shift, every row
 * between the anchor and this one takes the clicked row's new state.
 * Unticking a row while "all matching" is on keeps the loaded rows but
 * that one.
 */
export function toggleRow(sel: Selection, items: readonly SearchHit[], index: number, shift: boolean): Selection {
  const row = items[index];
  if (!row) return sel;
  const ids = new Set(sel.all ? items.map((t) => t.id) : sel.ids);
  const on = !ids.has(row.id);
  if (shift && sel.anchor !== null && sel.anchor < items.length) {
    const [a, b] = sel.anchor < index ? [sel.anchor, index] : [index, sel.anchor];
    for (let i = a; i <= b; i++) {
      const id = items[i]!.id;
      if (on) ids.add(id);
      else ids.delete(id);
    }
  } else if (on) ids.add(row.id);
  else ids.delete(row.id);
  return { ids, all: false, anchor: index };
}

interface Props {
  items: SearchHit[];
  total: number;
  hasMore: boolean;
  loadingMore: boolean;
  /** Why the last page could not be loaded; stops loading as you scroll. */
  moreError: string | null;
  onLoadMore: () => void;
  selection: Selection;
  onToggle: (index: number, shift: boolean) => void;
}

/** The best fragment of the ticket's texts, and whether it comes from an internal note. */
function snippet(t: SearchHit): { html: string; internal: boolean } | null {
  const h = t.highlights ?? {};
  const pick = h.description?.[0] ?? h.public_text?.[0];
  if (pick) return { html: pick, internal: false };
  const internal = h.internal_text?.[0];
  return internal ? { html: internal, internal: true } : null;
}

function Row({ t, index, selected, onToggle, now }: { t: SearchHit; index: number; selected: boolean; onToggle: Props['onToggle']; now: number }) {
  const subject = t.highlights?.subject?.[0];
  const snip = snippet(t);
  const meta: ReactNode[] = [t.assignee ? t.assignee : 'Unassigned'];
  if (t.category) meta.push(t.category);
  meta.push(`updated ${relativeTime(t.updated_at, now)}`);
  return (
    <>
      <input
        type="checkbox"
        className="result-check"
        checked={selected}
        aria-label={`Select ticket ${t.id}`}
        onClick={(e) => onToggle(index, e.shiftKey)}
        // The click handler decides (it needs the shift key).
        onChange={() => {}}
        data-testid="select-row"
      />
      <span className="result-id">#{t.id}</span>
      <Link className="result-subject" to={ticketPath(t.id)} data-testid="result-subject">
        {subject ? <Highlighted html={subject} /> : t.subject}
      </Link>
      <span className="result-badges">
        <Badge kind="status" value={t.status} />
        <Badge kind="priority" value={t.priority} />
      </span>
      <span className="result-snippet" data-testid="result-snippet">
        {snip?.internal ? <span className="badge badge-internal">Internal</span> : null}
        {snip ? <Highlighted html={snip.html} /> : t.description.slice(0, 200)}
      </span>
      <span className="result-meta">{meta.join(' · ')}</span>
    </>
  );
}

export function ResultList({ items, total, hasMore, loadingMore, moreError, onLoadMore, selection, onToggle }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const now = useNow();

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    setHeight(el.clientHeight);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);

  // The end is near: fetch the next page.
  useEffect(() => {
    if (hasMore && !loadingMore && moreError === null && last >= items.length - OVERSCAN) onLoadMore();
  }, [hasMore, loadingMore, moreError, last, items.length, onLoadMore]);

  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    const t = items[i]!;
    const selected = isSelected(selection, t.id);
    rows.push(
      <li
        key={t.id}
        className={selected ? 'result result-selected' : 'result'}
        style={{ transform: `translateY(${i * ROW_HEIGHT}px)` }}
        aria-setsize={total}
        aria-posinset={i + 1}
        data-testid="search-row"
        data-ticket-id={t.id}
        data-status={t.status}
        data-priority={t.priority}
        data-index={i}
      >
        <Row t={t} index={i} selected={selected} onToggle={onToggle} now={now} />
      </li>,
    );
  }

  return (
    <div
      ref={scroller}
      className="results-scroll"
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      data-testid="results-scroll"
    >
      <ul className="results" aria-label="Results" style={{ height: items.length * ROW_HEIGHT }}>
        {rows}
      </ul>
      <div className="results-end">
        {loadingMore ? (
          <span className="muted">Loading more…</span>
        ) : moreError ? (
          <RetryAlert message={moreError} onRetry={onLoadMore} />
        ) : hasMore ? (
          <button type="button" className="button-secondary button-small" onClick={onLoadMore}>
            Load more
          </button>
        ) : items.length > 0 ? (
          <span className="muted">All {items.length.toLocaleString()} shown.</span>
        ) : null}
      </div>
    </div>
  );
}
