// Saved views: the built-in ones, your own, your teams' and everyone's,
// each with how many tickets it finds now (one search with limit=1 each).
// A click runs the view; "Save view" keeps the current search; your own
// views (and, for leads and admins, the ones they share) can be changed
// or deleted.
import { useEffect, useId, useState, type FormEvent } from 'react';
import {
  createView,
  deleteView,
  listViews,
  SEARCH_SORTS,
  searchTickets,
  updateView,
  type Team,
  type User,
  type View,
  type ViewInput,
} from './api';
import { asApiError, splitProblem } from './fieldErrors';
import { fieldMessages } from './FieldMessages';
import { Modal } from './Modal';
import { SORT_LABELS } from './queryLang';
import { useFetched } from './useFetched';
import { RetryAlert } from './RetryAlert';

type Group = { title: string; views: View[] };

function groups(views: View[]): Group[] {
  const by = (pred: (v: View) => boolean) => views.filter(pred);
  return [
    { title: 'Built-in', views: by((v) => v.builtin || v.visibility === 'builtin') },
    { title: 'Yours', views: by((v) => !v.builtin && v.visibility === 'personal') },
    { title: 'Your teams', views: by((v) => !v.builtin && v.visibility === 'team') },
    { title: 'Everyone', views: by((v) => !v.builtin && v.visibility === 'everyone') },
  ].filter((g) => g.views.length > 0);
}

const norm = (s: string | null | undefined) => (s ?? '').trim();

/** A view saved without an order has the server's: relevance. */
const viewSort = (v: View) => norm(v.sort) || 'relevance';

/** Whether the screen shows view v's search (sort: the order the screen is in). */
export function isShowing(v: View, query: string, sort: string): boolean {
  return norm(v.query) === norm(query) && viewSort(v) === sort;
}

/** Counts per view id: a number, or the error that stopped the count. */
type Counts = Record<string, number | { error: string }>;

function useCounts(views: View[] | null, tz: string | null, refreshKey: number): Counts {
  const [counts, setCounts] = useState<Counts>({});
  useEffect(() => {
    if (!views || tz === null) return;
    let live = true;
    setCounts({});
    for (const v of views) {
      searchTickets(v.query, { limit: 1, tz, facets: false }).then(
        (r) => live && setCounts((c) => ({ ...c, [String(v.id)]: r.total })),
        (err: unknown) => live && setCounts((c) => ({ ...c, [String(v.id)]: { error: asApiError(err).userMessage } })),
      );
    }
    return () => {
      live = false;
    };
  }, [views, tz, refreshKey]);
  return counts;
}

interface Props {
  user: User;
  /** Teams the user may share a view with (leads: the ones they lead; admins: all). */
  shareTeams: Team[];
  teams: Team[];
  tz: string | null;
  query: string;
  /** The order the results are in. */
  sort: string;
  /** Bumped when counts may have changed (a bulk action ended). */
  refreshKey: number;
  onRun: (v: View) => void;
}

export function ViewsSidebar({ user, shareTeams, teams, tz, query, sort, refreshKey, onRun }: Props) {
  const [version, setVersion] = useState(0);
  const { data: views, error, retry } = useFetched(`views:${version}`, listViews, 'Could not load the saved views.');
  const counts = useCounts(views, tz, refreshKey);
  const [editing, setEditing] = useState<View | 'new' | null>(null);

  const teamName = (id: number | null) => teams.find((t) => t.id === id)?.name;

  return (
    <nav className="views" aria-labelledby="views-heading" data-testid="views">
      <div className="views-head">
        <h2 id="views-heading">Views</h2>
        <button type="button" className="button-secondary button-small" onClick={() => setEditing('new')}>
          Save view
        </button>
      </div>
      {error ? (
        <RetryAlert message={error} onRetry={retry} />
      ) : null}
      {views === null && !error ? <p className="muted">Loading…</p> : null}
      {views
        ? groups(views).map((g) => (
            <section key={g.title} className="view-group">
              <h3>{g.title}</h3>
              <ul>
                {g.views.map((v) => {
                  const active = isShowing(v, query, sort);
                  const c = counts[String(v.id)];
                  const team = v.visibility === 'team' ? teamName(v.team_id) : undefined;
                  return (
                    <li key={String(v.id)} className={active ? 'view view-active' : 'view'} data-testid="view" data-view-id={String(v.id)}>
                      <button
                        type="button"
                        className="view-run"
                        data-testid="view-run"
                        onClick={() => onRun(v)}
                        aria-current={active ? 'true' : undefined}
                        title={v.query || 'every ticket'}
                      >
                        <span className="view-name">
                          {v.name}
                          {team ? <span className="view-team"> · {team}</span> : null}
                        </span>
                        <span
                          className="view-count"
                          data-testid="view-count"
                          data-count={typeof c === 'number' ? c : undefined}
                          title={typeof c === 'object' ? c.error : undefined}
                        >
                          {c === undefined ? '…' : typeof c === 'number' ? c.toLocaleString() : '!'}
                        </span>
                      </button>
                      {v.editable || v.deletable ? (
                        <button type="button" className="button-link view-edit" onClick={() => setEditing(v)} aria-label={`Edit view ${v.name}`}>
                          Edit
                        </button>
                      ) : null}
                    </li>
                  );
                })}
              </ul>
            </section>
          ))
        : null}
      {editing !== null ? (
        <ViewDialog
          view={editing === 'new' ? null : editing}
          user={user}
          shareTeams={shareTeams}
          query={query}
          sort={sort}
          onDone={() => {
            setEditing(null);
            setVersion((n) => n + 1);
          }}
          onClose={() => setEditing(null)}
        />
      ) : null}
    </nav>
  );
}

interface DialogProps {
  /** null: save the current search as a new view. */
  view: View | null;
  user: User;
  shareTeams: Team[];
  query: string;
  sort: string;
  onDone: () => void;
  onClose: () => void;
}

function ViewDialog({ view, user, shareTeams, query: currentQuery, sort: currentSort, onDone, onClose }: DialogProps) {
  const ids = useId();
  const [name, setName] = useState(view?.name ?? '');
  const [query, setQuery] = useState(view ? view.query : currentQuery);
  const [sort, setSort] = useState(view ? viewSort(view) : currentSort);
  const [visibility, setVisibility] = useState<ViewInput['visibility']>(
    view && view.visibility !== 'builtin' ? view.visibility : 'personal',
  );
  const [teamId, setTeamId] = useState<string>(String(view?.team_id ?? shareTeams[0]?.id ?? ''));
  const [busy, setBusy] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [confirmDelete, setConfirmDelete] = useState(false);

  const mayTeam = (user.role === 'lead' || user.role === 'admin') && shareTeams.length > 0;
  const mayEveryone = user.role === 'admin';

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    setAlert(null);
    setErrors({});
    try {
      await action();
      onDone();
    } catch (err) {
      const split = splitProblem(asApiError(err), (f) => (['name', 'query', 'sort', 'visibility', 'team_id'].includes(f) ? f : null));
      setErrors(split.errors);
      setAlert(split.alert);
      setBusy(false);
    }
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    if (!name.trim()) {
      setErrors({ name: 'Give the view a name.' });
      return;
    }
    const input: ViewInput = { name: name.trim(), query, sort, visibility };
    if (visibility === 'team') input.team_id = teamId ? Number(teamId) : null;
    void run(() => (view ? updateView(view.id, input) : createView(input)));
  }

  const msg = fieldMessages(ids, errors);

  return (
    <Modal title={view ? `Edit view “${view.name}”` : 'Save the search as a view'} onClose={onClose} className="view-dialog" testId="view-dialog">
      <form onSubmit={submit} noValidate>
        {alert ? (
          <div className="alert" role="alert">
            {alert}
          </div>
        ) : null}
        <div className="field">
          <label htmlFor={`${ids}-name`}>Name</label>
          <input id={`${ids}-name`} type="text" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} aria-describedby={msg.describedBy('name')} autoFocus />
          {msg.error('name')}
        </div>
        <div className="field">
          <label htmlFor={`${ids}-query`}>Query</label>
          <input
            id={`${ids}-query`}
            type="text"
            className="mono"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            spellCheck={false}
            aria-describedby={msg.describedBy('query')}
          />
          {msg.error('query')}
          {view && (query !== currentQuery || sort !== currentSort) ? (
            <button
              type="button"
              className="button-link"
              onClick={() => {
                setQuery(currentQuery);
                setSort(currentSort);
              }}
            >
              Use the current search
            </button>
          ) : null}
        </div>
        <div className="field">
          <label htmlFor={`${ids}-sort`}>Order</label>
          <select id={`${ids}-sort`} value={sort} onChange={(e) => setSort(e.target.value)} aria-describedby={msg.describedBy('sort')}>
            {SEARCH_SORTS.map((s) => (
              <option key={s} value={s}>
                {SORT_LABELS[s]}
              </option>
            ))}
          </select>
          {msg.error('sort')}
        </div>
        {mayTeam || mayEveryone ? (
          <fieldset className="field view-visibility">
            <legend>Who sees it</legend>
            <label className="checkbox">
              <input type="radio" name={`${ids}-vis`} checked={visibility === 'personal'} onChange={() => setVisibility('personal')} />
              Only you
            </label>
            {mayTeam ? (
              <label className="checkbox">
                <input type="radio" name={`${ids}-vis`} checked={visibility === 'team'} onChange={() => setVisibility('team')} />
                A team
              </label>
            ) : null}
            {visibility === 'team' ? (
              <select aria-label="Team" value={teamId} onChange={(e) => setTeamId(e.target.value)} aria-describedby={msg.describedBy('team_id')}>
                {shareTeams.map((t) => (
                  <option key={t.id} value={String(t.id)}>
                    {t.name}
                  </option>
                ))}
              </select>
            ) : null}
            {mayEveryone ? (
              <label className="checkbox">
                <input type="radio" name={`${ids}-vis`} checked={visibility === 'everyone'} onChange={() => setVisibility('everyone')} />
                Everyone
              </label>
            ) : null}
            {msg.error('visibility')}
            {msg.error('team_id')}
          </fieldset>
        ) : (
          <p className="hint">Only you see this view.</p>
        )}
        <div className="button-row modal-foot">
          {!view || view.editable ? (
            <button type="submit" className="button-primary button-auto" disabled={busy} aria-busy={busy || undefined}>
              {view ? 'Save changes' : 'Save view'}
            </button>
          ) : null}
          {view && (view.deletable ?? view.editable) ? (
            confirmDelete ? (
              <>
                <button type="button" className="button-danger" disabled={busy} onClick={() => void run(() => deleteView(view.id))}>
                  Delete for good
                </button>
                <button type="button" className="button-ghost" onClick={() => setConfirmDelete(false)}>
                  Keep it
                </button>
              </>
            ) : (
              <button type="button" className="button-ghost" onClick={() => setConfirmDelete(true)}>
                Delete view
              </button>
            )
          ) : null}
        </div>
      </form>
    </Modal>
  );
}
