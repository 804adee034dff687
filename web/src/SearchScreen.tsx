// The staff search screen (/search?q=…&sort=…): the query language box,
// saved views, facets, a windowed result list with multi-select, bulk
// actions and exports. The query lives in the URL, so a search can be
// shared, bookmarked and gone back to.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  ApiError,
  browserTimeZone,
  CHANNELS,
  exportHref,
  getTimeZone,
  isSearchSort,
  listTeams,
  PRIORITIES,
  SEARCH_SORTS,
  searchTickets,
  STATUSES,
  type FacetField,
  type FacetValue,
  type SearchHit,
  type SearchSort,
  type User,
  type View,
} from './api';
import { BulkDialog, isFinished, useBulkJob, type BulkTarget } from './BulkDialog';
import { agentName, useAgents, useAllFields, useCategories } from './CustomFields';
import { Facets } from './Facets';
import { hasFreeText, indexOfByte, SORT_LABELS, toggleTerm, type Vocabulary } from './queryLang';
import { NO_SELECTION, ResultList, toggleRow, type Selection } from './ResultList';
import { navigate, useLocation } from './router';
import { SearchBox, type QueryError } from './SearchBox';
import { useFetched } from './useFetched';
import { ViewsSidebar } from './ViewsSidebar';
import { RetryAlert } from './RetryAlert';

const PAGE_SIZE = 50;

/** The URL of a search: "/search?q=status%3Aopen&sort=urgency". */
export function searchPath(q: string, sort: string | null): string {
  const params = new URLSearchParams();
  if (q.trim()) params.set('q', q);
  if (sort) params.set('sort', sort);
  const qs = params.toString();
  return qs ? `/search?${qs}` : '/search';
}

interface Results {
  items: SearchHit[];
  cursor: string | null;
  total: number;
  /** The order the server used. */
  sort: string | null;
  facets: Partial<Record<FacetField, FacetValue[]>>;
}

const EMPTY: Results = { items: [], cursor: null, total: 0, sort: null, facets: {} };

/** The query's problem from a 422: its message and where it is (a string index into q). */
function queryErrorOf(err: ApiError, q: string): QueryError | null {
  if (err.status !== 422) return null;
  const entries = (err.problem.errors ?? []) as { field: string; detail: string; position?: number }[];
  const e = entries.find((x) => x.field === 'q');
  if (!e) return null;
  const pos = typeof e.position === 'number' && e.position >= 0 ? indexOfByte(q, e.position) : null;
  return { message: e.detail, index: pos };
}

function appendPage(prev: SearchHit[], page: SearchHit[]): SearchHit[] {
  const seen = new Set(prev.map((t) => t.id));
  return [...prev, ...page.filter((t) => !seen.has(t.id))];
}

export function SearchScreen({ user }: { user: User }) {
  const location = useLocation();
  const params = new URLSearchParams(location.search);
  const q = params.get('q') ?? '';
  const sortParam = params.get('sort');
  const sort: SearchSort | null = isSearchSort(sortParam) ? sortParam : null;

  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]);

  const [tz, setTz] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    getTimeZone().then(
      (zone) => live && setTz(zone || browserTimeZone()),
      () => live && setTz(browserTimeZone()),
    );
    return () => {
      live = false;
    };
  }, []);

  const [results, setResults] = useState<Results>(EMPTY);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<string | null>(null);
  const [queryError, setQueryError] = useState<QueryError | null>(null);
  const [selection, setSelection] = useState<Selection>(NO_SELECTION);
  const [refreshKey, setRefreshKey] = useState(0);
  const generation = useRef(0);

  useEffect(() => {
    if (tz === null) return;
    const gen = ++generation.current;
    setLoading(true);
    setError(null);
    setMoreError(null);
    setQueryError(null);
    setSelection(NO_SELECTION);
    searchTickets(q, { sort, limit: PAGE_SIZE, tz }).then(
      (r) => {
        if (gen !== generation.current) return;
        setResults({ items: r.items, cursor: r.next_cursor ?? null, total: r.total, sort: r.sort ?? null, facets: r.facets ?? {} });
        setLoading(false);
      },
      (err: unknown) => {
        if (gen !== generation.current) return;
        setResults(EMPTY);
        const e = err instanceof ApiError ? err : null;
        const qe = e ? queryErrorOf(e, q) : null;
        if (qe) setQueryError(qe);
        else setError(e ? e.userMessage : 'Could not search.');
        setLoading(false);
      },
    );
  }, [q, sort, tz, refreshKey]);

  const loadMore = useCallback(async () => {
    const cursor = results.cursor;
    if (!cursor || loadingMore || tz === null) return;
    const gen = generation.current;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const r = await searchTickets(q, { sort, cursor, limit: PAGE_SIZE, tz });
      if (gen !== generation.current) return;
      setResults((prev) => ({ ...prev, items: appendPage(prev.items, r.items), cursor: r.next_cursor ?? null }));
    } catch (err) {
      if (gen === generation.current) setMoreError(err instanceof ApiError ? err.userMessage : 'Could not load more.');
    } finally {
      if (gen === generation.current) setLoadingMore(false);
    }
  }, [results.cursor, loadingMore, q, sort, tz]);

  useEffect(() => {
    document.title = q ? `${q} · Search · helpdesk` : 'Search · helpdesk';
  }, [q]);

  // "/" anywhere but in a field jumps to the search box.
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
      const box = document.querySelector<HTMLInputElement>('[data-testid="search-input"]');
      if (!box) return;
      e.preventDefault();
      box.focus();
    }
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  // What suggestions and the bulk dialog offer.
  const agents = useAgents(true) ?? [];
  const { data: teamsData } = useFetched('teams', listTeams, 'Could not load the teams.');
  const teams = teamsData ?? [];
  const categories = useCategories(true).data ?? [];
  const fields = useAllFields().data ?? [];
  const tags = results.facets.tag;
  const vocabulary = useMemo<Vocabulary>(
    () => ({
      customFields: fields.filter((f) => !f.retired),
      agents: agents.map((a) => ({ email: a.email, name: agentName(a) !== a.email ? agentName(a) : '' })),
      teams: teams.map((t) => t.name),
      categories: categories.map((c) => ({ name: c.name, path: c.path })),
      statuses: STATUSES,
      priorities: PRIORITIES,
      channels: CHANNELS,
      tags: (tags ?? []).map((t) => t.value),
    }),
    [fields, agents, teams, categories, tags],
  );
  // Leads share views with the teams they lead, admins with any.
  const shareTeams = useMemo(() => (user.role === 'admin' ? teams : teams.filter((t) => t.lead_id === user.id)), [teams, user]);

  function go(nextQ: string, nextSort: string | null, replace = false) {
    const path = searchPath(nextQ, nextSort);
    if (path === location.pathname + location.search) setRefreshKey((n) => n + 1);
    else navigate(path, { replace });
  }

  // Bulk actions.
  const [bulkTarget, setBulkTarget] = useState<BulkTarget | null>(null);
  const [bulkOpen, setBulkOpen] = useState(false);
  const [jobId, setJobId] = useState<string | number | null>(null);
  const progress = useBulkJob(jobId);
  const finished = isFinished(progress.job);
  useEffect(() => {
    if (!finished) return;
    // The action ended: show the tickets (and the views' counts) as they
    // are now, and once more when the index has caught up with the last
    // changes (a second or two).
    setRefreshKey((n) => n + 1);
    const id = setTimeout(() => setRefreshKey((n) => n + 1), 2500);
    return () => clearTimeout(id);
  }, [finished]);

  const selectedCount = selection.all ? results.total : selection.ids.size;
  const loadedSelected = selection.all ? results.items.length : results.items.filter((t) => selection.ids.has(t.id)).length;
  const allLoaded = results.items.length > 0 && loadedSelected === results.items.length;
  const selectAllRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (selectAllRef.current) selectAllRef.current.indeterminate = loadedSelected > 0 && !allLoaded;
  }, [loadedSelected, allLoaded]);

  function openBulk() {
    if (selectedCount === 0) return;
    setBulkTarget(selection.all ? { kind: 'query', query: q, total: results.total } : { kind: 'ids', ids: [...selection.ids] });
    setJobId(null);
    setBulkOpen(true);
  }

  const effectiveSort = sort ?? results.sort ?? (hasFreeText(q) ? 'relevance' : '-created');
  const [bom, setBom] = useState(false);
  const zone = tz ?? browserTimeZone();

  return (
    <main id="main" className="search-layout">
      <aside className="search-side">
        <ViewsSidebar
          user={user}
          shareTeams={shareTeams}
          teams={teams}
          tz={tz}
          query={q}
          sort={effectiveSort}
          refreshKey={refreshKey}
          onRun={(v: View) => go(v.query, v.sort || null)}
        />
      </aside>

      <section className="search-main card" aria-labelledby="search-heading">
        <h2 id="search-heading" className="visually-hidden">
          Search tickets
        </h2>
        <SearchBox
          value={draft}
          onChange={setDraft}
          onSubmit={(v) => go(v, sort)}
          submitted={q}
          error={queryError}
          vocabulary={vocabulary}
          busy={loading}
        />

        <div className="results-toolbar">
          <label className="checkbox select-all">
            <input
              ref={selectAllRef}
              type="checkbox"
              checked={allLoaded}
              disabled={results.items.length === 0}
              onChange={() =>
                setSelection(allLoaded ? NO_SELECTION : { ids: new Set(results.items.map((t) => t.id)), all: false, anchor: null })
              }
              data-testid="select-loaded"
            />
            <span className="visually-hidden">Select all loaded tickets</span>
          </label>
          <p className="results-count" aria-live="polite" data-testid="results-count" data-total={loading ? undefined : results.total}>
            {loading
              ? 'Searching…'
              : selectedCount > 0
                ? selection.all
                  ? `All ${results.total.toLocaleString()} matching selected`
                  : `${selectedCount.toLocaleString()} of ${results.total.toLocaleString()} selected`
                : `${results.total.toLocaleString()} ticket${results.total === 1 ? '' : 's'}`}
          </p>
          {selectedCount > 0 && !selection.all && results.total > selectedCount ? (
            <button
              type="button"
              className="button-link"
              onClick={() => setSelection({ ids: new Set(), all: true, anchor: null })}
              data-testid="select-all-matching"
            >
              Select all {results.total.toLocaleString()} matching
            </button>
          ) : null}
          {selectedCount > 0 ? (
            <>
              <button type="button" className="button-link" onClick={() => setSelection(NO_SELECTION)}>
                Clear
              </button>
              <button type="button" className="button-primary button-small button-auto" onClick={openBulk} data-testid="bulk-open">
                Bulk action…
              </button>
            </>
          ) : null}
          {jobId !== null && !bulkOpen ? (
            <button type="button" className="button-ghost button-small bulk-pill" onClick={() => setBulkOpen(true)} data-testid="bulk-reopen">
              {progress.job
                ? `Bulk action: ${progress.job.done.toLocaleString()}/${progress.job.total.toLocaleString()}${finished ? ` (${progress.job.state})` : ''}`
                : 'Bulk action…'}
            </button>
          ) : null}
          <span className="toolbar-gap" />
          <label className="inline-field">
            <span>Order</span>
            <select value={effectiveSort} onChange={(e) => go(q, e.target.value, true)} data-testid="sort-select">
              {SEARCH_SORTS.map((s) => (
                <option key={s} value={s}>
                  {SORT_LABELS[s]}
                </option>
              ))}
            </select>
          </label>
          <span className="export" role="group" aria-label="Export the results">
            <a className="button-secondary button-small" href={exportHref(q, 'csv', zone, { bom, sort: effectiveSort })} download data-testid="export-csv">
              CSV
            </a>
            <a className="button-secondary button-small" href={exportHref(q, 'ndjson', zone, { sort: effectiveSort })} download data-testid="export-ndjson">
              NDJSON
            </a>
            <label className="inline-check" title="Starts the CSV with a byte order mark so Excel reads it as UTF-8">
              <input type="checkbox" checked={bom} onChange={(e) => setBom(e.target.checked)} data-testid="export-bom" />
              for Excel
            </label>
          </span>
        </div>

        {error ? (
          <RetryAlert message={error} onRetry={() => setRefreshKey((n) => n + 1)} />
        ) : null}

        {!loading && !error && !queryError && results.items.length === 0 ? (
          <p className="empty">No tickets match{q ? ' this search' : ''}.</p>
        ) : null}
        {results.items.length > 0 ? (
          <ResultList
            // A new search starts at the top; reading the same one again keeps the place.
            key={`${q}\n${sort ?? ''}`}
            items={results.items}
            total={results.total}
            hasMore={results.cursor !== null}
            loadingMore={loadingMore}
            moreError={moreError}
            onLoadMore={loadMore}
            selection={selection}
            onToggle={(i, shift) => setSelection((s) => toggleRow(s, results.items, i, shift))}
          />
        ) : null}
      </section>

      <aside className="search-facets">
        <Facets facets={results.facets} query={q} onToggle={(field, value) => go(toggleTerm(q, field, value), sort)} />
      </aside>

      {bulkOpen && bulkTarget ? (
        <BulkDialog
          target={bulkTarget}
          tz={zone}
          jobId={jobId}
          progress={progress}
          agents={agents}
          teams={teams}
          categories={categories}
          onStarted={(id) => {
            setJobId(id);
            setSelection(NO_SELECTION);
          }}
          onClose={() => setBulkOpen(false)}
        />
      ) : null}
    </main>
  );
}
