import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { ApiError, getProviders, login, problemIs, ssoHref, type Providers, type User } from './api';
import { BrandMark } from './Header';

type Field = 'email' | 'password';
type FieldErrors = Partial<Record<Field, string>>;

function isField(name: string): name is Field {
  return name === 'email' || name === 'password';
}

function validate(email: string, password: string): FieldErrors {
  const errors: FieldErrors = {};
  if (email === '') errors.email = 'Enter your email.';
  else if (!/^[^\s@]+@[^\s@]+$/.test(email)) errors.email = 'Enter an email address like name@example.com.';
  if (password === '') errors.password = 'Enter your password.';
  return errors;
}

function loginMessage(err: ApiError): string {
  if (err.status === 401 || problemIs(err.problem, 'invalid-credentials')) return 'Wrong email or password';
  if (err.status === 429 || problemIs(err.problem, 'too-many-attempts')) {
    return err.retryAfter !== null
      ? `Too many attempts, try again in ${err.retryAfter} s`
      : 'Too many attempts, try again later';
  }
  if (err.status === 422 && !err.problem.detail) return 'Check the highlighted fields.';
  return err.userMessage;
}

/** "Sign in with single sign-on", or "Sign in with Okta" when the server names the provider. */
function ssoLabel(name: string | undefined): string {
  const n = (name ?? '').trim();
  return !n || n.toLowerCase() === 'single sign-on' ? 'Sign in with single sign-on' : `Sign in with ${n}`;
}

interface Props {
  /** Shown above the form, e.g. "Your session expired". */
  notice: string | null;
  initialEmail: string;
  onSignedIn: (user: User) => void;
}

export function SignIn({ notice, initialEmail, onSignedIn }: Props) {
  const [providers, setProviders] = useState<Providers | null>(null);
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState('');
  const [submitting, setSubmitting] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const inFlight = useRef(false);
  const formRef = useRef<HTMLFormElement>(null);
  const ids = { email: useId(), password: useId(), alert: useId() };

  useEffect(() => {
    let live = true;
    getProviders().then(
      (p) => live && setProviders(p),
      // Without the list, offer the password form (the common case) and no SSO.
      () => live && setProviders({ local: true, sso: { enabled: false } }),
    );
    return () => {
      live = false;
    };
  }, []);

  // Shown after mount: the alert region must exist before its text for
  // screen readers to announce it.
  const [shownNotice, setShownNotice] = useState<string | null>(null);
  useEffect(() => setShownNotice(notice), [notice]);

  useEffect(() => {
    document.title = 'Sign in · helpdesk';
    return () => {
      document.title = 'helpdesk';
    };
  }, []);

  function focusField(field: Field) {
    formRef.current?.querySelector<HTMLElement>(`[name="${field}"]`)?.focus();
  }

  async function handleSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (inFlight.current) return;
    const trimmedEmail = email.trim();
    const errors = validate(trimmedEmail, password);
    setFieldErrors(errors);
    const firstInvalid = (['email', 'password'] as const).find((f) => errors[f]);
    if (firstInvalid) {
      setAlert(null);
      focusField(firstInvalid);
      return;
    }

    inFlight.current = true;
    setSubmitting(true);
    setAlert(null);
    try {
      const user = await login(trimmedEmail, password);
      setPassword('');
      onSignedIn(user);
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : new ApiError(0, { title: String(err) }, null);
      const serverErrors: FieldErrors = {};
      const unmatched: string[] = [];
      for (const fe of apiErr.problem.errors ?? []) {
        if (isField(fe.field)) serverErrors[fe.field] = fe.detail;
        else unmatched.push(fe.field ? `${fe.field}: ${fe.detail}` : fe.detail);
      }
      setFieldErrors(serverErrors);
      setAlert([loginMessage(apiErr), ...unmatched].join(' '));
      if (apiErr.status === 401) {
        setPassword('');
        focusField('password');
      } else {
        const first = (['email', 'password'] as const).find((f) => serverErrors[f]);
        if (first) focusField(first);
      }
    } finally {
      inFlight.current = false;
      setSubmitting(false);
    }
  }

  function fieldProps(field: Field) {
    const err = fieldErrors[field];
    return {
      id: ids[field],
      name: field,
      'aria-invalid': err ? true : undefined,
      'aria-describedby': err ? `${ids[field]}-error` : undefined,
    } as const;
  }

  function errorFor(field: Field) {
    const err = fieldErrors[field];
    return err ? (
      <p className="field-error" id={`${ids[field]}-error`}>
        {err}
      </p>
    ) : null;
  }

  const local = providers?.local ?? true;
  const sso = providers?.sso;
  const ssoLink = sso?.enabled && sso.start_url ? ssoHref(sso.start_url, location.pathname) : null;

  return (
    <main id="main" className="signin">
      <div className="signin-brand">
        <BrandMark />
        <span>helpdesk</span>
      </div>
      <section className="card signin-card" aria-labelledby="signin-heading">
        <h1 id="signin-heading">Sign in</h1>
        <div className="alert-slot" role="alert" id={ids.alert}>
          {alert ? <div className="alert">{alert}</div> : shownNotice ? <div className="notice">{shownNotice}</div> : null}
        </div>

        {local ? (
          <form ref={formRef} onSubmit={handleSubmit} noValidate aria-describedby={alert ? ids.alert : undefined}>
            <div className="field">
              <label htmlFor={ids.email}>Email</label>
              <input
                {...fieldProps('email')}
                type="email"
                autoComplete="username"
                inputMode="email"
                autoCapitalize="none"
                spellCheck={false}
                required
                autoFocus={initialEmail === ''}
                value={email}
                onChange={(e) => setEmail(e.target.value)}
              />
              {errorFor('email')}
            </div>
            <div className="field">
              <label htmlFor={ids.password}>Password</label>
              <input
                {...fieldProps('password')}
                type="password"
                autoComplete="current-password"
                required
                autoFocus={initialEmail !== ''}
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
              {errorFor('password')}
            </div>
            <button type="submit" className="button-primary" disabled={submitting} aria-busy={submitting || undefined}>
              {submitting ? <span className="spinner" aria-hidden="true" /> : null}
              Sign in
            </button>
          </form>
        ) : null}

        {ssoLink ? (
          <>
            {local ? (
              <p className="divider">
                <span>or</span>
              </p>
            ) : null}
            <a className="button-secondary button-block" href={ssoLink}>
              {ssoLabel(sso?.name)}
            </a>
          </>
        ) : null}

        {providers && !local && !ssoLink ? (
          <p className="empty">No way to sign in is set up. Ask your administrator.</p>
        ) : null}
      </section>
    </main>
  );
}
