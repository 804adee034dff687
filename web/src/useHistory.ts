import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, getHistory, type HistoryItem } from './api';

const PAGE_SIZE = 50;
/** How many pages catchUp reads at most in one go. */
const MAX_CATCH_UP_PAGES = 20;

export interface TicketHistory {
  items: HistoryItem[];
  loading: boolean;
  error: string | null;
  /** Whether later entries exist than the ones loaded (next_after_seq was not null). */
  hasMore: boolean;
  /** Loads the next page (the entries after the last one shown). */
  loadMore: () => Promise<void>;
  /** Loads every entry after the last one shown, e.g. after a change. */
  catchUp: () => Promise<void>;
  /** Starts over from the first entry. */
  reload: () => Promise<void>;
}

function merge(prev: HistoryItem[], page: HistoryItem[]): HistoryItem[] {
  const bySeq = new Map<number, HistoryItem>();
  for (const it of prev) bySeq.set(it.seq, it);
  for (const it of page) bySeq.set(it.seq, it);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/**
 * A ticket's timeline from GET /tickets/{id}/history, oldest first (newest
 * at the bottom), paged forward with next_after_seq. Loads run one at a
 * time, so a catch-up after a change never races the first load.
 */
export function useHistory(ticketId: number): TicketHistory {
  const [items, setItems] = useState<HistoryItem[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  // The after_seq of the next request: the last entry loaded.
  const after = useRef(0);
  const queue = useRef<Promise<void>>(Promise.resolve());
  const generation = useRef(0);

  const run = useCallback((pages: number, fromStart: boolean): Promise<void> => {
    const gen = fromStart ? ++generation.current : generation.current;
    const job = async () => {
      if (gen !== generation.current) return;
      if (fromStart) {
        after.current = 0;
        setItems([]);
      }
      setLoading(true);
      setError(null);
      try {
        for (let i = 0; i < pages; i++) {
          const page = await getHistory(ticketId, after.current, PAGE_SIZE);
          if (gen !== generation.current) return;
          const last = page.items[page.items.length - 1];
          if (page.next_after_seq !== null) after.current = page.next_after_seq;
          else if (last) after.current = Math.max(after.current, last.seq);
          setItems((prev) => merge(prev, page.items));
          setHasMore(page.next_after_seq !== null);
          if (page.next_after_seq === null) break;
        }
      } catch (err) {
        if (gen === generation.current) {
          setError(err instanceof ApiError ? err.userMessage : 'Could not load the activity.');
        }
      } finally {
        if (gen === generation.current) setLoading(false);
      }
    };
    const next = queue.current.then(job, job);
    queue.current = next;
    return next;
  }, [ticketId]);

  const loadMore = useCallback(() => run(1, false), [run]);
  const catchUp = useCallback(() => run(MAX_CATCH_UP_PAGES, false), [run]);
  const reload = useCallback(() => run(1, true), [run]);

  useEffect(() => {
    void reload();
    return () => {
      generation.current++;
    };
  }, [reload]);

  return { items, loading, error, hasMore, loadMore, catchUp, reload };
}
