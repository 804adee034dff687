import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import { ApiError, listTickets, type Ticket } from './api';
import type { Draft } from './draft';
import { NewTicketForm } from './NewTicketForm';
import { TicketList } from './TicketList';

const PAGE_SIZE = 25;

/** Merges ticket lists by id (later entries win), newest first. */
function mergeTickets(...lists: Ticket[][]): Ticket[] {
  const byId = new Map<number, Ticket>();
  for (const list of lists) for (const t of list) byId.set(t.id, t);
  return [...byId.values()].sort((a, b) => {
    const d = Date.parse(b.created_at) - Date.parse(a.created_at);
    return d !== 0 && !Number.isNaN(d) ? d : b.id - a.id;
  });
}

function messageOf(err: unknown): string {
  return err instanceof ApiError ? err.userMessage : 'Could not load tickets.';
}

interface Props {
  /** A draft kept across a lost session, to put back into the form. */
  initialDraft: Draft | null;
  draftRef: RefObject<Draft | null>;
}

/** The signed-in screen: the new-ticket form and the ticket list. */
export function TicketsScreen({ initialDraft, draftRef }: Props) {
  const [tickets, setTickets] = useState<Ticket[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [highlightId, setHighlightId] = useState<number | null>(null);
  const generation = useRef(0);

  const refresh = useCallback(async () => {
    const gen = ++generation.current;
    setLoading(true);
    setError(null);
    try {
      const page = await listTickets(null, PAGE_SIZE);
      if (gen !== generation.current) return;
      setTickets(mergeTickets(page.items));
      setCursor(page.next_cursor);
    } catch (err) {
      if (gen !== generation.current) return;
      setError(messageOf(err));
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // Set after mount so the live region exists before its text (screen readers
  // announce changes, not initial content).
  const draftRestored = initialDraft !== null;
  useEffect(() => {
    if (draftRestored) setStatus('Your unsent ticket was kept. Check it and create it.');
  }, [draftRestored]);

  useEffect(() => {
    if (!status) return;
    const id = setTimeout(() => setStatus(''), 6000);
    return () => clearTimeout(id);
  }, [status]);

  async function loadMore() {
    if (!cursor || loadingMore) return;
    const gen = generation.current;
    setLoadingMore(true);
    setError(null);
    try {
      const page = await listTickets(cursor, PAGE_SIZE);
      if (gen !== generation.current) return;
      setTickets((prev) => mergeTickets(prev, page.items));
      setCursor(page.next_cursor);
    } catch (err) {
      if (gen === generation.current) setError(messageOf(err));
    } finally {
      setLoadingMore(false);
    }
  }

  function handleCreated(ticket: Ticket) {
    setTickets((prev) => mergeTickets(prev, [ticket]));
    setHighlightId(ticket.id);
    setStatus(`Ticket #${ticket.id} created.`);
  }

  return (
    <main id="main" className="layout">
      <div className="status-slot" role="status" aria-live="polite">
        {status ? <div className="toast">{status}</div> : null}
      </div>
      <NewTicketForm onCreated={handleCreated} initialDraft={initialDraft} draftRef={draftRef} />
      <TicketList
        tickets={tickets}
        loading={loading}
        loadingMore={loadingMore}
        error={error}
        hasMore={cursor !== null}
        highlightId={highlightId}
        onLoadMore={loadMore}
        onRetry={refresh}
      />
    </main>
  );
}
