import { useState } from 'react';
import { ApiError, listQuarantine, quarantineRawHref, releaseQuarantine, type Quarantined } from './api';
import { Link } from './router';
import { fileSize, localTime } from './time';
import { useFetched } from './useFetched';
import { RetryAlert } from './RetryAlert';

const REASON: Record<string, string> = {
  too_large: 'Too large',
  too_many_attachments: 'Too many attachments',
  attachment_too_large: 'Attachment too large',
  unparseable: 'Unreadable',
  no_sender: 'No sender',
  rate_limited: 'Too many from this sender',
  reused_message_id: 'Message-ID reused with other content',
  rejected: 'Refused by its ticket',
};

// Releasing these would fail the same way: nothing to act on.
const NOT_RELEASABLE = new Set(['unparseable', 'no_sender']);

/** Admins: mail the intake kept aside, with the reason; download or release it. */
export function QuarantineScreen() {
  const [showReleased, setShowReleased] = useState(false);
  // Bumped after a release so the list is read again.
  const [version, setVersion] = useState(0);
  const {
    data: items,
    error,
    retry,
  } = useFetched(`${showReleased}:${version}`, () => listQuarantine(showReleased), 'Could not load the quarantine.');
  const [busy, setBusy] = useState<number | null>(null);
  const [status, setStatus] = useState<{ id: number; text: string; ticket?: number } | null>(null);

  async function release(q: Quarantined) {
    if (busy !== null) return;
    setBusy(q.id);
    setStatus(null);
    try {
      const res = await releaseQuarantine(q.id);
      const o = res.outcome;
      const what =
        o?.outcome === 'ticket' || o?.outcome === 'followup'
          ? `opened ticket #${o.ticket}`
          : o?.outcome === 'comment'
            ? `added to ticket #${o.ticket}`
            : o?.outcome === 'quarantined'
              ? `quarantined again: ${o.reason ?? ''}`
              : (o?.outcome ?? 'done');
      setStatus({ id: q.id, text: `Released: ${what}.`, ticket: o?.ticket || undefined });
      setVersion((v) => v + 1);
    } catch (err) {
      setStatus({ id: q.id, text: `Could not release it. ${err instanceof ApiError ? err.userMessage : ''}`.trim() });
    } finally {
      setBusy(null);
    }
  }

  return (
    <main id="main" className="detail">
      <section className="card" aria-labelledby="quarantine-heading">
        <div className="card-head">
          <h2 id="quarantine-heading">Quarantined mail</h2>
          <label className="inline-check">
            <input type="checkbox" checked={showReleased} onChange={(e) => setShowReleased(e.target.checked)} /> Show released
          </label>
        </div>
        <p className="hint">
          Mail the intake did not turn into tickets, kept with the reason. Release processes it again with that check waived.
          Oversized mail, and mail over a sender&apos;s rate limit, is kept as its headers and the start of its body only:
          that cannot be released; download it and ask the sender to send it again.
        </p>
        <p role="status" className="hint" data-testid="quarantine-status">
          {status ? (
            <>
              {status.text} {status.ticket ? <Link to={`/tickets/${status.ticket}`}>Open ticket #{status.ticket}</Link> : null}
            </>
          ) : null}
        </p>
        {error ? (
          <RetryAlert message={error} onRetry={retry} />
        ) : items === null ? (
          <p className="empty" aria-busy="true">
            Loading…
          </p>
        ) : items.length === 0 ? (
          <p className="empty">Nothing in quarantine.</p>
        ) : (
          <table className="quarantine-table">
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">From</th>
                <th scope="col">Subject</th>
                <th scope="col">Reason</th>
                <th scope="col">Size</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((q) => (
                <tr key={q.id} data-testid="quarantine-row" data-quarantine-id={q.id}>
                  <td>
                    <time dateTime={q.created_at}>{localTime(q.created_at)}</time>
                  </td>
                  <td>{q.from || '—'}</td>
                  <td>{q.subject || '(no subject)'}</td>
                  <td title={q.detail}>
                    {REASON[q.reason] ?? q.reason}
                    <span className="hint quarantine-detail">{q.detail}</span>
                  </td>
                  <td>
                    {fileSize(q.size_bytes)}
                    {q.truncated ? (
                      <span className="hint quarantine-detail" data-testid="quarantine-truncated">
                        Truncated: headers and start kept ({fileSize(q.stored_bytes)})
                      </span>
                    ) : null}
                  </td>
                  <td className="quarantine-actions">
                    <a href={quarantineRawHref(q.id)} download>
                      Download
                    </a>
                    {q.released_at ? (
                      <span className="hint">Released {localTime(q.released_at)}</span>
                    ) : NOT_RELEASABLE.has(q.reason) ? null : q.truncated ? (
                      <span className="hint">Cannot be released: only part of it was kept</span>
                    ) : (
                      <button
                        type="button"
                        onClick={() => void release(q)}
                        disabled={busy !== null}
                        aria-busy={busy === q.id || undefined}
                        aria-label={`Release mail from ${q.from || 'unknown sender'}: ${q.subject || 'no subject'}`}
                      >
                        Release
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
