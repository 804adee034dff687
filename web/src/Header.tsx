import type { User } from './api';
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

/** The signed-in page header: product name, who is signed in, "Sign out". */
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
