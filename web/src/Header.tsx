import { useEffect, useState } from 'react';
import { AGENT_CHANGED, ApiError, isStaff, listAgents, updateAgent, type Agent, type User } from './api';
import { Link } from './router';

export function BrandMark() {
  return (
    <svg className="brand-mark" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path
        d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H11l-4.2 3.6c-.5.4-1.3.1-1.3-.6V16A2.5 2.5 0 0 1 4 13.5z"
        fill="currentColor"
      />
    </svg>
  );
}

interface Props {
  user: User;
  signingOut: boolean;
  signOutError: string | null;
  onSignOut: () => void;
}

/**
 * Staff: whether routing may give them tickets. The state comes from
 * GET /agents (the caller's own row); the switch sends
 * PATCH /agents/{me} {"available"}.
 */
function AvailabilitySwitch({ user }: { user: User }) {
  const [available, setAvailable] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    listAgents().then(
      (agents) => {
        const me = agents.find((a) => a.id === user.id);
        if (live && me) setAvailable(me.available);
      },
      () => {}, // no switch without a known state
    );
    // The Settings screen may change it too.
    function follow(e: Event) {
      const a = (e as CustomEvent<Agent>).detail;
      if (a && a.id === user.id) setAvailable(a.available);
    }
    window.addEventListener(AGENT_CHANGED, follow);
    return () => {
      live = false;
      window.removeEventListener(AGENT_CHANGED, follow);
    };
  }, [user.id]);

  if (available === null) return null;

  async function toggle() {
    if (busy || available === null) return;
    const next = !available;
    setBusy(true);
    setProblem(null);
    try {
      const a = await updateAgent(user.id, { available: next });
      setAvailable(a.available);
    } catch (err) {
      setProblem(`Could not change your availability. ${err instanceof ApiError ? err.userMessage : ''}`.trim());
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <span className="sign-out-error" role="alert">
        {problem}
      </span>
      <button
        type="button"
        role="switch"
        aria-checked={available}
        className={`availability ${available ? 'availability-on' : 'availability-off'}`}
        onClick={() => void toggle()}
        disabled={busy}
        aria-busy={busy || undefined}
        data-testid="availability"
        title={available ? 'You get new tickets. Switch to Away to stop.' : 'Routing skips you. Switch to Available to get tickets.'}
      >
        <span className="availability-track" aria-hidden="true">
          <span className="availability-thumb" />
        </span>
        <span className="visually-hidden">Available</span>
        <span aria-hidden="true">{available ? 'Available' : 'Away'}</span>
      </button>
    </>
  );
}

/** The signed-in page header: product name, who is signed in, availability, "Sign out". */
export function Header({ user, signingOut, signOutError, onSignOut }: Props) {
  const display = user.name.trim() || user.email;
  return (
    <header className="app-header">
      <div className="app-header-inner">
        <Link className="brand" to="/" title="All tickets">
          <BrandMark />
          <h1>helpdesk</h1>
        </Link>
        <span className="tagline">Support tickets</span>
        <div className="account">
          {isStaff(user) ? (
            <Link className="header-link" to="/search" title="Search tickets (query language, views, bulk actions)">
              Search
            </Link>
          ) : null}
          {user.role === 'admin' ? (
            <Link className="header-link" to="/quarantine">
              Quarantine
            </Link>
          ) : null}
          {isStaff(user) ? <AvailabilitySwitch user={user} /> : null}
          <span className="sign-out-error" role="alert">
            {signOutError}
          </span>
          <span className="who" data-testid="current-user">
            <span className="who-name" title={user.email}>
              {display}
            </span>
            <span className="role-badge" data-testid="current-user-role">
              {user.role}
            </span>
          </span>
          <button
            type="button"
            className="button-header"
            onClick={onSignOut}
            disabled={signingOut}
            aria-busy={signingOut || undefined}
          >
            Sign out
          </button>
        </div>
      </div>
    </header>
  );
}
