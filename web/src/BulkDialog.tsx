// Bulk actions: the dialog that says what to change on the selected
// tickets (POST /bulk), then follows the action (GET /bulk/{id} every half
// second): a progress bar, the tickets it could not change and why, and a
// cancel button.
import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react';
import {
  ApiError,
  cancelBulk,
  getBulk,
  PRIORITIES,
  startBulk,
  STATUSES,
  type Agent,
  type BulkChange,
  type BulkJob,
  type BulkRequest,
  type Category,
  type Team,
} from './api';
import { label } from './Badge';
import { agentName, CategoryOptions } from './CustomFields';
import { asApiError, splitProblem } from './fieldErrors';
import { fieldMessages, type FieldMessages } from './FieldMessages';
import { useIdempotencyKeys } from './idempotency';
import { Modal } from './Modal';
import { Link, ticketPath } from './router';

/** The tickets a bulk action is for: these, or all the query matches when it starts. */
export type BulkTarget = { kind: 'ids'; ids: number[] } | { kind: 'query'; query: string; total: number };

const TERMINAL = new Set(['completed', 'cancelled', 'failed']);
const POLL_MS = 500;

export function isFinished(job: BulkJob | null): boolean {
  return job !== null && TERMINAL.has(job.state);
}

export interface BulkProgress {
  job: BulkJob | null;
  /** Why the last poll failed (polling goes on unless the action is gone). */
  error: string | null;
}

/** Polls GET /bulk/{id} every half second until the action ends. */
export function useBulkJob(id: string | number | null): BulkProgress {
  const [state, setState] = useState<BulkProgress>({ job: null, error: null });
  useEffect(() => {
    setState({ job: null, error: null });
    if (id === null) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const job = await getBulk(id);
        if (!live) return;
        setState({ job, error: null });
        if (TERMINAL.has(job.state)) return;
      } catch (err) {
        if (!live) return;
        const e = asApiError(err);
        setState((s) => ({ job: s.job, error: e.userMessage }));
        if (e.status === 404 || e.status === 403 || e.status === 401) return;
      }
      timer = setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [id]);
  return state;
}

// The reasons of docs/bulk.md.
const REASONS: Record<string, string> = {
  not_found: 'Not found',
  not_allowed: 'Not allowed',
  transition_refused: 'Status change refused',
  archived: 'Closed for good',
  invalid: 'Not valid for this ticket',
  unavailable: 'No answer from the ticket',
};

export function reasonLabel(reason: string): string {
  return REASONS[reason] ?? label(reason);
}

const STATES: Record<string, string> = {
  running: 'Running…',
  completed: 'Completed',
  cancelled: 'Cancelled',
  failed: 'Failed',
};

/** Tags typed as "a, b c": split on commas and spaces. */
function tagList(s: string): string[] {
  return [...new Set(s.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean))];
}

const NONE = '__none';

/** A select whose first choice leaves the tickets' value alone (and, with none, one that clears it). */
function SelectField(props: {
  id: string;
  label: string;
  name: string;
  value: string;
  onChange: (v: string) => void;
  msg: FieldMessages;
  none?: string;
  children: ReactNode;
}) {
  const { id, label: text, name, value, onChange, msg, none, children } = props;
  return (
    <div className="field">
      <label htmlFor={id}>{text}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={msg.describedBy(name)}>
        <option value="">No change</option>
        {none ? <option value={NONE}>{none}</option> : null}
        {children}
      </select>
      {msg.error(name)}
    </div>
  );
}

interface FormProps {
  target: BulkTarget;
  /** The time zone a query's days and ages are read in. */
  tz: string;
  agents: Agent[];
  teams: Team[];
  categories: Category[];
  onStarted: (id: string | number) => void;
}

function BulkForm({ target, tz, agents, teams, categories, onStarted }: FormProps) {
  const ids = useId();
  const keys = useIdempotencyKeys();
  const [status, setStatus] = useState('');
  const [priority, setPriority] = useState('');
  const [assignee, setAssignee] = useState('');
  const [team, setTeam] = useState('');
  const [category, setCategory] = useState('');
  const [tagsAdd, setTagsAdd] = useState('');
  const [tagsRemove, setTagsRemove] = useState('');
  const [comment, setComment] = useState('');
  const [internal, setInternal] = useState(true);
  const [busy, setBusy] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});

  const count = target.kind === 'ids' ? target.ids.length : target.total;

  function body(): BulkRequest | null {
    const change: BulkChange = {};
    if (status) change.status = status;
    if (priority) change.priority = priority;
    if (assignee) change.assignee = assignee === NONE ? null : assignee;
    if (team) change.team = team === NONE ? null : Number(team);
    if (category) change.category_id = category === NONE ? null : Number(category);
    const add = tagList(tagsAdd);
    const remove = tagList(tagsRemove);
    if (add.length) change.tags_add = add;
    if (remove.length) change.tags_remove = remove;
    const req: BulkRequest = target.kind === 'ids' ? { ids: target.ids, change } : { query: target.query, tz, change };
    if (comment.trim()) req.comment = { body: comment, internal };
    if (Object.keys(change).length === 0 && !req.comment) return null;
    return req;
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    const req = body();
    if (!req) {
      setAlert('Choose at least one change, or write a comment.');
      return;
    }
    setBusy(true);
    setAlert(null);
    setErrors({});
    const what = JSON.stringify(req);
    try {
      const res = await startBulk(req, keys.keyFor(what));
      keys.settle();
      onStarted(res.id);
    } catch (err) {
      keys.settle(err);
      const split = splitProblem(asApiError(err), (f) => {
        const name = f.replace(/^(change|comment)\./, '').replace(/^category_id$/, 'category');
        return ['status', 'priority', 'assignee', 'team', 'category', 'tags_add', 'tags_remove', 'body'].includes(name) ? name : null;
      });
      setErrors(split.errors);
      setAlert(split.alert);
      setBusy(false);
    }
  }

  const msg = fieldMessages(ids, errors);

  return (
    <form onSubmit={(e) => void submit(e)} className="bulk-form" noValidate>
      <p className="bulk-target" data-testid="bulk-target">
        {target.kind === 'ids'
          ? `${count.toLocaleString()} selected ticket${count === 1 ? '' : 's'}.`
          : `Every ticket matching the query when the action starts (${count.toLocaleString()} now).`}{' '}
        Each is changed as if you changed it by hand: tickets you may not change are listed as failures.
      </p>
      {alert ? (
        <div className="alert" role="alert">
          {alert}
        </div>
      ) : null}
      <div className="bulk-grid">
        <SelectField id={`${ids}-status`} label="Status" value={status} onChange={setStatus} msg={msg} name="status">
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {label(s)}
            </option>
          ))}
        </SelectField>
        <SelectField id={`${ids}-priority`} label="Priority" value={priority} onChange={setPriority} msg={msg} name="priority">
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {label(p)}
            </option>
          ))}
        </SelectField>
        <SelectField id={`${ids}-assignee`} label="Assignee" value={assignee} onChange={setAssignee} msg={msg} name="assignee" none="Unassign">
          {agents.map((a) => (
            <option key={a.id} value={a.email}>
              {agentName(a)}
              {a.name.trim() ? ` (${a.email})` : ''}
            </option>
          ))}
        </SelectField>
        <SelectField id={`${ids}-team`} label="Team" value={team} onChange={setTeam} msg={msg} name="team" none="No team">
          {teams.map((t) => (
            <option key={t.id} value={String(t.id)}>
              {t.name}
            </option>
          ))}
        </SelectField>
        <SelectField id={`${ids}-category`} label="Category" value={category} onChange={setCategory} msg={msg} name="category" none="No category">
          <CategoryOptions categories={categories} />
        </SelectField>
        <div className="field">
          <label htmlFor={`${ids}-tags-add`}>Add tags</label>
          <input
            id={`${ids}-tags-add`}
            type="text"
            value={tagsAdd}
            onChange={(e) => setTagsAdd(e.target.value)}
            placeholder="vip, printer"
            aria-describedby={msg.describedBy('tags_add')}
          />
          {msg.error('tags_add')}
        </div>
        <div className="field">
          <label htmlFor={`${ids}-tags-remove`}>Remove tags</label>
          <input
            id={`${ids}-tags-remove`}
            type="text"
            value={tagsRemove}
            onChange={(e) => setTagsRemove(e.target.value)}
            placeholder="spam"
            aria-describedby={msg.describedBy('tags_remove')}
          />
          {msg.error('tags_remove')}
        </div>
      </div>
      <div className="field">
        <label htmlFor={`${ids}-comment`}>Comment (optional)</label>
        <textarea id={`${ids}-comment`} rows={3} value={comment} onChange={(e) => setComment(e.target.value)} aria-describedby={msg.describedBy('body')} />
        {msg.error('body')}
        <fieldset className="segmented bulk-visibility">
          <legend className="visually-hidden">Who sees the comment</legend>
          <label className="segmented-option">
            <input type="radio" name={`${ids}-internal`} checked={internal} onChange={() => setInternal(true)} />
            <span>Internal note</span>
          </label>
          <label className="segmented-option">
            <input type="radio" name={`${ids}-internal`} checked={!internal} onChange={() => setInternal(false)} />
            <span>Public reply (each requester is told)</span>
          </label>
        </fieldset>
      </div>
      <div className="button-row">
        <button type="submit" className="button-primary button-auto" disabled={busy} aria-busy={busy || undefined}>
          {`Apply to ${count.toLocaleString()} ticket${count === 1 ? '' : 's'}`}
        </button>
      </div>
    </form>
  );
}

function Progress({ id, progress }: { id: string | number; progress: BulkProgress }) {
  const { job, error } = progress;
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const running = job !== null && !TERMINAL.has(job.state);

  async function cancel() {
    setCancelling(true);
    setCancelError(null);
    try {
      // The next poll shows the action cancelled.
      await cancelBulk(id);
    } catch (err) {
      setCancelError(`Could not cancel. ${err instanceof ApiError ? err.userMessage : ''}`.trim());
      setCancelling(false);
    }
  }

  if (!job) {
    return <p className="muted">{error ?? 'Starting…'}</p>;
  }
  const failures = job.failures ?? [];
  const n = (x: number | undefined) => (x ?? 0).toLocaleString();
  const succeeded = job.succeeded ?? job.done - job.failed - (job.skipped ?? 0);
  return (
    <div
      className="bulk-progress"
      data-testid="bulk-progress"
      data-state={job.state}
      data-done={job.done}
      data-succeeded={succeeded}
      data-failed={job.failed}
      data-skipped={job.skipped ?? 0}
      data-total={job.total}
    >
      <progress max={Math.max(job.total, 1)} value={job.total === 0 ? 1 : job.done} aria-label="Progress" />
      <p className="bulk-counts" aria-live="polite">
        <strong data-testid="bulk-state">{STATES[job.state] ?? label(job.state)}</strong>{' '}
        <span data-testid="bulk-counts">
          {n(job.done)} of {n(job.total)} done: {n(succeeded)} changed
          {job.skipped ? `, ${n(job.skipped)} already as asked` : ''}, {n(job.failed)} failed
          {job.cancelled ? `, ${n(job.cancelled)} not reached` : ''}
        </span>
      </p>
      {job.error ? (
        <div className="alert" role="alert">
          {job.error}
        </div>
      ) : null}
      {error ? <p className="hint">{error}</p> : null}
      {cancelError ? (
        <div className="alert" role="alert">
          {cancelError}
        </div>
      ) : null}
      {failures.length > 0 ? (
        <div className="bulk-failures-wrap">
          <table className="bulk-failures">
            <caption>Not changed</caption>
            <thead>
              <tr>
                <th scope="col">Ticket</th>
                <th scope="col">Reason</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {failures.map((f) => (
                <tr key={f.ticket} data-testid="bulk-failure" data-ticket-id={f.ticket} data-reason={f.reason}>
                  <td>
                    <Link to={ticketPath(f.ticket)} target="_blank" rel="noopener">
                      #{f.ticket}
                    </Link>
                  </td>
                  <td>{reasonLabel(f.reason)}</td>
                  <td>{f.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {job.failed > failures.length ? (
            <p className="hint">
              {(job.failed - failures.length).toLocaleString()} more not listed.
            </p>
          ) : null}
        </div>
      ) : null}
      {running ? (
        <div className="button-row">
          <button type="button" className="button-secondary" onClick={() => void cancel()} disabled={cancelling} aria-busy={cancelling || undefined}>
            {cancelling ? 'Cancelling…' : 'Cancel the action'}
          </button>
        </div>
      ) : null}
    </div>
  );
}

interface Props {
  target: BulkTarget;
  tz: string;
  /** The action once started (its id), followed by the screen so it survives closing the dialog. */
  jobId: string | number | null;
  progress: BulkProgress;
  agents: Agent[];
  teams: Team[];
  categories: Category[];
  onStarted: (id: string | number) => void;
  onClose: () => void;
}

export function BulkDialog({ target, tz, jobId, progress, agents, teams, categories, onStarted, onClose }: Props) {
  const running = jobId !== null && !isFinished(progress.job);
  return (
    <Modal title={jobId === null ? 'Bulk action' : 'Bulk action progress'} onClose={onClose} className="bulk-dialog" testId="bulk-dialog">
      {jobId === null ? (
        <BulkForm target={target} tz={tz} agents={agents} teams={teams} categories={categories} onStarted={onStarted} />
      ) : (
        <>
          <Progress id={jobId} progress={progress} />
          <div className="button-row modal-foot">
            <button type="button" className={running ? 'button-ghost' : 'button-primary button-auto'} onClick={onClose}>
              {running ? 'Hide (keeps running)' : 'Close'}
            </button>
          </div>
        </>
      )}
    </Modal>
  );
}
