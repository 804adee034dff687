import { useId, useState, type FormEvent, type ReactNode } from 'react';
import {
  allowedMoves,
  ApiError,
  changeTicket,
  getTicket,
  learnMoves,
  mayReassign,
  PRIORITIES,
  problemIs,
  type Ticket,
  type TicketChange,
  type User,
} from './api';
import { label } from './Badge';
import { useIdempotencyKeys } from './idempotency';

type Control = 'status' | 'priority' | 'assignee';
type FieldErrors = Partial<Record<Control, string>>;

function isControl(field: string): field is Control {
  return field === 'status' || field === 'priority' || field === 'assignee';
}

function capitalized(value: string): string {
  const l = label(value);
  return l.charAt(0).toUpperCase() + l.slice(1);
}

interface Props {
  ticket: Ticket;
  user: User;
  /** The ticket as the server answered after a change (or re-read after a refusal). */
  onChanged: (ticket: Ticket, announcement: string | null) => void;
}

/**
 * Staff controls: status (only the moves the server allows), priority and
 * assignee. Each change is one PATCH with its own Idempotency-Key.
 */
export function TicketControls({ ticket, user, onChanged }: Props) {
  const keys = useIdempotencyKeys();
  const [busy, setBusy] = useState<Control | null>(null);
  const [alert, setAlert] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const ids = { status: useId(), priority: useId(), assignee: useId(), alert: useId() };

  const archived = Boolean(ticket.archived_at);
  const assigneeId = ticket.assignee_id ?? null;
  const assigned = assigneeId !== null || ticket.assignee != null;
  const mine = assigneeId !== null ? assigneeId === user.id : ticket.assignee === user.email;
  const reassign = mayReassign(user);

  async function apply(control: Control, change: TicketChange, done: string) {
    if (busy) return;
    const from = ticket.status;
    const key = keys.keyFor(`${ticket.id}:${JSON.stringify(change)}`);
    setBusy(control);
    setAlert(null);
    setFieldErrors({});
    try {
      const updated = await changeTicket(ticket.id, change, key);
      keys.settle();
      onChanged(updated, done);
    } catch (err) {
      keys.settle(err);
      const apiErr = err instanceof ApiError ? err : new ApiError(0, { title: String(err) }, null);
      const errors: FieldErrors = {};
      const unmatched: string[] = [];
      for (const fe of apiErr.problem.errors ?? []) {
        if (isControl(fe.field)) errors[fe.field] = fe.detail;
        else unmatched.push(fe.field ? `${fe.field}: ${fe.detail}` : fe.detail);
      }
      setFieldErrors(errors);
      setAlert([apiErr.userMessage, ...unmatched].join(' '));
      // A refusal because the ticket is not what this page shows (a status
      // move the server does not allow, someone else took it): read it again.
      if (apiErr.status === 409) {
        try {
          const fresh = await getTicket(ticket.id);
          if (problemIs(apiErr.problem, 'transition-not-allowed') && apiErr.problem.allowed && fresh.status === from) {
            learnMoves(from, apiErr.problem.allowed);
          }
          onChanged(fresh, null);
        } catch {
          // keep showing the refusal; the page's Refresh reads it again
        }
      }
    } finally {
      setBusy(null);
    }
  }

  function errorFor(control: Control) {
    const err = fieldErrors[control];
    return err ? (
      <p className="field-error" id={`${ids[control]}-error`}>
        {err}
      </p>
    ) : null;
  }

  function describedBy(control: Control) {
    return fieldErrors[control] ? `${ids[control]}-error` : undefined;
  }

  if (archived) {
    return <p className="muted">This ticket was closed for good: its reopen window has ended, so it can no longer change.</p>;
  }

  return (
    <div className="controls">
      <div className="alert-slot" role="alert" id={ids.alert}>
        {alert ? <div className="alert">{alert}</div> : null}
      </div>

      <StatusForm
        key={`status:${ticket.status}`}
        id={ids.status}
        current={ticket.status}
        busy={busy === 'status'}
        disabled={busy !== null}
        invalid={Boolean(fieldErrors.status)}
        describedBy={describedBy('status')}
        onSubmit={(to) => apply('status', { status: to }, `Status changed to ${label(to)}.`)}
      >
        {errorFor('status')}
      </StatusForm>

      <PriorityForm
        key={`priority:${ticket.priority}`}
        id={ids.priority}
        current={ticket.priority}
        busy={busy === 'priority'}
        disabled={busy !== null}
        invalid={Boolean(fieldErrors.priority)}
        describedBy={describedBy('priority')}
        onSubmit={(to) => apply('priority', { priority: to }, `Priority changed to ${to}.`)}
      >
        {errorFor('priority')}
      </PriorityForm>

      <div className="control" role="group" aria-labelledby={`${ids.assignee}-label`}>
        <span className="control-label" id={`${ids.assignee}-label`}>
          Assignee
        </span>
        <p className="control-value" data-testid="control-assignee">
          {assigned ? (mine ? `You (${ticket.assignee ?? user.email})` : ticket.assignee) : 'Unassigned'}
        </p>
        <div className="button-row">
          {!mine && (!assigned || reassign) ? (
            <button
              type="button"
              className="button-secondary button-small"
              disabled={busy !== null}
              aria-busy={busy === 'assignee' || undefined}
              onClick={() => apply('assignee', { assignee: user.id }, 'The ticket is assigned to you.')}
            >
              Assign to me
            </button>
          ) : null}
          {assigned && (mine || reassign) ? (
            <button
              type="button"
              className="button-secondary button-small"
              disabled={busy !== null}
              onClick={() => apply('assignee', { assignee: null }, 'The ticket is unassigned.')}
            >
              Unassign
            </button>
          ) : null}
        </div>
        {!assigned || mine || reassign ? (
          <AssignForm
            key={`assignee:${assigneeId ?? ticket.assignee ?? ''}`}
            id={ids.assignee}
            disabled={busy !== null}
            invalid={Boolean(fieldErrors.assignee)}
            describedBy={describedBy('assignee')}
            onSubmit={(email) => apply('assignee', { assignee: email }, `The ticket is assigned to ${email}.`)}
          />
        ) : (
          <p className="hint">Only a lead or an admin can take over a ticket someone else holds.</p>
        )}
        {errorFor('assignee')}
      </div>
    </div>
  );
}

interface SelectFormProps {
  id: string;
  current: string;
  busy: boolean;
  disabled: boolean;
  invalid: boolean;
  describedBy: string | undefined;
  onSubmit: (value: string) => void;
  children: ReactNode;
}

function StatusForm({ id, current, busy, disabled, invalid, describedBy, onSubmit, children }: SelectFormProps) {
  const moves = allowedMoves(current);
  const [choice, setChoice] = useState(current);
  function submit(e: FormEvent) {
    e.preventDefault();
    if (choice !== current) onSubmit(choice);
  }
  return (
    <form className="control" onSubmit={submit} noValidate>
      <label htmlFor={id}>Status</label>
      <div className="inline-field">
        <select
          id={id}
          name="status"
          value={choice}
          onChange={(e) => setChoice(e.target.value)}
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
        >
          <option value={current}>{capitalized(current)} (current)</option>
          {moves
            .filter((m) => m !== current)
            .map((m) => (
              <option key={m} value={m}>
                {capitalized(m)}
              </option>
            ))}
        </select>
        <button
          type="submit"
          className="button-secondary button-small"
          disabled={disabled || choice === current}
          aria-busy={busy || undefined}
        >
          Change<span className="visually-hidden"> status</span>
        </button>
      </div>
      {moves.length === 0 ? <p className="hint">No status change is allowed from {label(current)}.</p> : null}
      {children}
    </form>
  );
}

function PriorityForm({ id, current, busy, disabled, invalid, describedBy, onSubmit, children }: SelectFormProps) {
  const [choice, setChoice] = useState(current);
  function submit(e: FormEvent) {
    e.preventDefault();
    if (choice !== current) onSubmit(choice);
  }
  return (
    <form className="control" onSubmit={submit} noValidate>
      <label htmlFor={id}>Priority</label>
      <div className="inline-field">
        <select
          id={id}
          name="priority"
          value={choice}
          onChange={(e) => setChoice(e.target.value)}
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
        >
          {(PRIORITIES as readonly string[]).includes(current) ? null : <option value={current}>{current}</option>}
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {capitalized(p)}
              {p === current ? ' (current)' : ''}
            </option>
          ))}
        </select>
        <button
          type="submit"
          className="button-secondary button-small"
          disabled={disabled || choice === current}
          aria-busy={busy || undefined}
        >
          Change<span className="visually-hidden"> priority</span>
        </button>
      </div>
      {children}
    </form>
  );
}

interface AssignFormProps {
  id: string;
  disabled: boolean;
  invalid: boolean;
  describedBy: string | undefined;
  onSubmit: (email: string) => void;
}

function AssignForm({ id, disabled, invalid, describedBy, onSubmit }: AssignFormProps) {
  const [email, setEmail] = useState('');
  function submit(e: FormEvent) {
    e.preventDefault();
    const v = email.trim();
    if (v) onSubmit(v);
  }
  return (
    <form className="assign-form" onSubmit={submit} noValidate>
      <label htmlFor={id}>Assign to</label>
      <div className="inline-field">
        <input
          id={id}
          name="assignee"
          type="email"
          autoComplete="off"
          placeholder="agent@example.com"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
        />
        <button type="submit" className="button-secondary button-small" disabled={disabled || email.trim() === ''}>
          Assign
        </button>
      </div>
    </form>
  );
}
