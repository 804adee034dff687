import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, clearCaches, getMe, isStaff, logout, setSessionLostHandler, type User } from './api';
import { clearDraft, saveDraft, takeDraft, type Draft } from './draft';
import { Header } from './Header';
import { Link, navigate, ticketIdOf, useLocation } from './router';
import { SignIn } from './SignIn';
import { QuarantineScreen } from './QuarantineScreen';
import { SearchScreen } from './SearchScreen';
import { TicketDetail } from './TicketDetail';
import { categoryFilterOf, TicketsScreen } from './TicketsScreen';
import { RetryAlert } from './RetryAlert';

type Auth =
  | { kind: 'checking' }
  | { kind: 'unavailable'; message: string }
  | { kind: 'signed-out'; notice: string | null; email: string }
  | { kind: 'signed-in'; user: User; draft: Draft | null };

function signedIn(user: User): Auth {
  return { kind: 'signed-in', user, draft: takeDraft(user.id) };
}

/** Asks the server who is signed in, then shows the sign-in screen or the page the URL names. */
export function App() {
  const location = useLocation();
  const [auth, setAuthState] = useState<Auth>({ kind: 'checking' });
  // The same value, readable from the session-lost handler without re-registering it.
  const authRef = useRef<Auth>(auth);
  // What the new-ticket form holds, kept while the list is not shown (a visit
  // to a ticket) and saved when the session is lost.
  const draftRef = useRef<Draft | null>(null);
  // Whether the list should say that a draft came back after signing in again.
  const [draftRestored, setDraftRestored] = useState(false);
  const setAuth = useCallback((next: Auth) => {
    const prev = authRef.current;
    // What one user's pages fetched (agents, fields…) is not the next one's.
    if (next.kind === 'signed-out' || (next.kind === 'signed-in' && prev.kind === 'signed-in' && prev.user.id !== next.user.id)) {
      clearCaches();
    }
    authRef.current = next;
    setAuthState(next);
    if (next.kind === 'signed-in') {
      draftRef.current = next.draft;
      setDraftRestored(next.draft !== null);
    }
  }, []);
  const [signingOut, setSigningOut] = useState(false);
  const [signOutError, setSignOutError] = useState<string | null>(null);

  const check = useCallback(async () => {
    setAuth({ kind: 'checking' });
    try {
      setAuth(signedIn(await getMe()));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setAuth({ kind: 'signed-out', notice: null, email: '' });
      } else {
        const why = err instanceof ApiError ? err.userMessage : 'Something went wrong.';
        setAuth({ kind: 'unavailable', message: why });
      }
    }
  }, [setAuth]);

  useEffect(() => {
    void check();
  }, [check]);

  // A request that needs a session answered 401: it expired or was revoked.
  // Keep the ticket being written (for this user only) and ask to sign in again.
  useEffect(() => {
    setSessionLostHandler(() => {
      const cur = authRef.current;
      if (cur.kind !== 'signed-in') return;
      saveDraft(cur.user.id, draftRef.current);
      draftRef.current = null;
      setSigningOut(false);
      setSignOutError(null);
      setAuth({ kind: 'signed-out', notice: 'Your session has ended. Sign in again to continue.', email: cur.user.email });
    });
    return () => setSessionLostHandler(null);
  }, [setAuth]);

  async function signOut() {
    setSigningOut(true);
    setSignOutError(null);
    try {
      await logout();
    } catch (err) {
      // 401: the session was already gone, which is what we wanted.
      if (!(err instanceof ApiError && err.status === 401)) {
        setSigningOut(false);
        setSignOutError(err instanceof ApiError ? `Could not sign out. ${err.userMessage}` : 'Could not sign out.');
        return;
      }
    }
    clearDraft();
    draftRef.current = null;
    setSigningOut(false);
    navigate('/', { replace: true });
    setAuth({ kind: 'signed-out', notice: 'You have signed out.', email: '' });
  }

  switch (auth.kind) {
    case 'checking':
      return (
        <main id="main" className="splash" aria-busy="true">
          <p className="empty">Loading…</p>
        </main>
      );
    case 'unavailable':
      return (
        <main id="main" className="splash">
          <RetryAlert message={auth.message} onRetry={() => void check()} />
        </main>
      );
    case 'signed-out':
      return <SignIn notice={auth.notice} initialEmail={auth.email} onSignedIn={(user) => setAuth(signedIn(user))} />;
    case 'signed-in': {
      const ticketId = ticketIdOf(location.pathname);
      const sort = new URLSearchParams(location.search).get('sort') === 'urgency' ? 'urgency' : 'newest';
      let page;
      if (ticketId !== null) {
        page = <TicketDetail key={`${auth.user.id}:${ticketId}`} id={ticketId} user={auth.user} />;
      } else if (location.pathname === '/quarantine' && auth.user.role === 'admin') {
        page = <QuarantineScreen />;
      } else if (location.pathname === '/search' && isStaff(auth.user)) {
        page = <SearchScreen key={auth.user.id} user={auth.user} />;
      } else if (location.pathname === '/' || location.pathname === '/index.html') {
        page = (
          <TicketsScreen
            key={auth.user.id}
            user={auth.user}
            sort={sort}
            categoryId={categoryFilterOf(location.search)}
            initialDraft={draftRef.current}
            draftRestored={draftRestored}
            onDraftNoticeShown={() => setDraftRestored(false)}
            draftRef={draftRef}
          />
        );
      } else {
        page = (
          <main id="main" className="splash">
            <h2>Page not found</h2>
            <p>
              There is nothing at this address. <Link to="/">Go to the tickets</Link>.
            </p>
          </main>
        );
      }
      return (
        <>
          <a className="skip-link" href="#main">
            Skip to content
          </a>
          <Header user={auth.user} signingOut={signingOut} signOutError={signOutError} onSignOut={signOut} />
          {page}
        </>
      );
    }
  }
}
