import { listTicketMail, ticketMailHref } from './api';
import { fileSize, localTime } from './time';
import { useFetched } from './useFetched';
import { RetryAlert } from './RetryAlert';

const OUTCOME: Record<string, string> = {
  ticket: 'opened this ticket',
  comment: 'added as a reply',
  followup: 'opened this follow-up',
  bounce: 'delivery failure',
  ignored: 'not acted on',
  quarantined: 'quarantined',
  sent: 'sent',
  processing: 'being processed',
};

/**
 * Staff: the email behind a ticket, received and sent, each downloadable as
 * it was on the wire. Renders nothing for tickets without mail.
 */
export function TicketMail({ ticketId, refreshKey }: { ticketId: number; refreshKey: number }) {
  const { data: items, error, retry } = useFetched(
    `${ticketId}:${refreshKey}`,
    () => listTicketMail(ticketId),
    'Could not load the email.',
  );

  if (!error && (!items || items.length === 0)) return null;
  return (
    <section className="card" aria-labelledby="mail-heading" data-testid="ticket-mail">
      <h2 id="mail-heading">Email</h2>
      {error ? (
        <RetryAlert message={error} onRetry={retry} />
      ) : (
        <ul className="mail-list">
          {items!.map((m) => (
            <li key={m.id} className="mail-item" data-mail-id={m.id}>
              <div className="mail-line">
                <span className={`mail-dir mail-dir-${m.direction}`}>{m.direction === 'in' ? 'Received' : 'Sent'}</span>{' '}
                <span className="mail-subject">{m.subject || '(no subject)'}</span>
              </div>
              <div className="mail-meta hint">
                {m.direction === 'in' ? `from ${m.from}` : null} · {OUTCOME[m.outcome] ?? m.outcome} ·{' '}
                <time dateTime={m.created_at}>{localTime(m.created_at)}</time> · {fileSize(m.size_bytes)}
              </div>
              <a className="mail-raw" href={ticketMailHref(ticketId, m.id)} download>
                Original message
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
