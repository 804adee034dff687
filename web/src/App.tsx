import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, listTickets, type Ticket } from './api';
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

export function App() {
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
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <div className="app-header-inner">
          <span className="brand">
            <svg className="brand-mark" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
              <path
                d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H11l-4.2 3.6c-.5.4-1.3.1-1.3-.6V16A2.5 2.5 0 0 1 4 13.5z"
                fill="currentColor"
              />
            </svg>
            <h1>helpdesk</h1>
          </span>
          <span className="tagline">Support tickets</span>
        </div>
      </header>
      <main id="main" className="layout">
        <div className="status-slot" role="status" aria-live="polite">
          {status ? <div className="toast">{status}</div> : null}
        </div>
        <NewTicketForm onCreated={handleCreated} />
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
    </>
  );
}
