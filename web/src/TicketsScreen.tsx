import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import { ApiError, claimNextTicket, isStaff, listTickets, type SortOrder, type Ticket, type User } from './api';
import type { Draft } from './draft';
import { NewTicketForm } from './NewTicketForm';
import { navigate, takeFlash, ticketPath } from './router';
import { TicketList } from './TicketList';

const PAGE_SIZE = 25;

/** Merges ticket lists by id (later entries win), newest first. */
function mergeNewest(...lists: Ticket[][]): Ticket[] {
  const byId = new Map<number, Ticket>();
  for (const list of lists) for (const t of list) byId.set(t.id, t);
  return [...byId.values()].sort((a, b) => {
    const d = Date.parse(b.created_at) - Date.parse(a.created_at);
    return d !== 0 && !Number.isNaN(d) ? d : b.id - a.id;
  });
}

/** Appends a further page in the server's order (urgency), dropping repeats. */
function appendPage(prev: Ticket[], page: Ticket[]): Ticket[] {
  const seen = new Set(prev.map((t) => t.id));
  return [...prev, ...page.filter((t) => !seen.has(t.id))];
}

function messageOf(err: unknown, fallback: string): string {
  return err instanceof ApiError ? err.userMessage : fallback;
}

/** The list URL for a sort order and category filter: "/", "/?sort=urgency", "/?category_id=3". */
export function listPath(sort: SortOrder, categoryId: number | null = null): string {
  const params = new URLSearchParams();
  if (sort === 'urgency') params.set('sort', 'urgency');
  if (categoryId !== null) params.set('category_id', String(categoryId));
  const qs = params.toString();
  return qs ? `/?${qs}` : '/';
}

/** The category filter a list URL's query names, or null. */
export function categoryFilterOf(search: string): number | null {
  const v = new URLSearchParams(search).get('category_id');
  return v && /^\d{1,15}$/.test(v) && Number(v) > 0 ? Number(v) : null;
}

interface Props {
  user: User;
  sort: SortOrder;
  /** Only tickets in this category and its subcategories (GET /tickets?category_id=N). */
  categoryId: number | null;
  /** Values to put back into the form (kept across a lost session or a visit to a ticket). */
  initialDraft: Draft | null;
  /** Whether initialDraft comes back from a lost session (then the screen says so). */
  draftRestored: boolean;
  onDraftNoticeShown: () => void;
  draftRef: RefObject<Draft | null>;
}

/** The signed-in start screen: the new-ticket form and the ticket list. */
export function TicketsScreen({ user, sort: asked, categoryId, initialDraft, draftRestored, onDraftNoticeShown, draftRef }: Props) {
  const staff = isStaff(user);
  // The urgency order follows internal SLA deadlines: staff only (the API
  // refuses it to requesters), so an old ?sort=urgency link lists newest.
  const sort: SortOrder = staff ? asked : 'newest';
  const [tickets, setTickets] = useState<Ticket[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [highlightId, setHighlightId] = useState<number | null>(null);
  const [claiming, setClaiming] = useState(false);
  const generation = useRef(0);

  const refresh = useCallback(async () => {
    const gen = ++generation.current;
    setLoading(true);
    setError(null);
    try {
      const page = await listTickets(null, PAGE_SIZE, sort, categoryId);
      if (gen !== generation.current) return;
      setTickets(sort === 'newest' ? mergeNewest(page.items) : page.items);
      setCursor(page.next_cursor);
    } catch (err) {
      if (gen !== generation.current) return;
      setError(messageOf(err, 'Could not load tickets.'));
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  }, [sort, categoryId]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // Set after mount so the live region exists before its text (screen readers
  // announce changes, not initial content).
  useEffect(() => {
    if (!draftRestored) return;
    setStatus('Your unsent ticket was kept. Check it and create it.');
    onDraftNoticeShown();
  }, [draftRestored, onDraftNoticeShown]);
  useEffect(() => {
    const flash = takeFlash();
    if (flash) setStatus(flash);
  }, []);

  useEffect(() => {
    document.title = 'Tickets · helpdesk';
  }, []);

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
      const page = await listTickets(cursor, PAGE_SIZE, sort, categoryId);
      if (gen !== generation.current) return;
      setTickets((prev) => (sort === 'newest' ? mergeNewest(prev, page.items) : appendPage(prev, page.items)));
      setCursor(page.next_cursor);
    } catch (err) {
      if (gen === generation.current) setError(messageOf(err, 'Could not load tickets.'));
    } finally {
      setLoadingMore(false);
    }
  }

  function handleCreated(ticket: Ticket) {
    if (sort === 'newest' && categoryId === null) setTickets((prev) => mergeNewest(prev, [ticket]));
    // Its place in the urgency order, and whether it falls under the
    // category filter (subcategories count), are the server's to say.
    else void refresh();
    setHighlightId(ticket.id);
    setStatus(`Ticket #${ticket.id} created.`);
  }

  async function nextTicket() {
    if (claiming) return;
    setClaiming(true);
    try {
      const claimed = await claimNextTicket();
      if (!claimed) {
        setStatus('The queue is empty: no unassigned open ticket is waiting for you.');
        return;
      }
      navigate(ticketPath(claimed.id), { flash: `Ticket #${claimed.id} is now assigned to you.` });
    } catch (err) {
      setStatus(`Could not take the next ticket. ${messageOf(err, '')}`.trim());
    } finally {
      setClaiming(false);
    }
  }

  return (
    <main id="main" className="layout">
      <div className="status-slot" role="status" aria-live="polite">
        {status ? <div className="toast">{status}</div> : null}
      </div>
      <NewTicketForm onCreated={handleCreated} staff={staff} initialDraft={initialDraft} draftRef={draftRef} />
      <TicketList
        tickets={tickets}
        loading={loading}
        loadingMore={loadingMore}
        error={error}
        hasMore={cursor !== null}
        highlightId={highlightId}
        sort={sort}
        categoryId={categoryId}
        staff={staff}
        claiming={claiming}
        onSortChange={(s) => navigate(listPath(s, categoryId), { replace: true })}
        onCategoryChange={(c) => navigate(listPath(sort, c), { replace: true })}
        onNextTicket={nextTicket}
        onLoadMore={loadMore}
        onRetry={refresh}
      />
    </main>
  );
}
