import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { ApiError, attachmentHref, listAttachments, uploadAttachment, type Attachment, type Ticket } from './api';
import { useIdempotencyKeys } from './idempotency';
import { fileSize, localTime } from './time';
import { RetryAlert } from './RetryAlert';

interface Props {
  ticket: Ticket;
  staff: boolean;
  /** Bumped by the page's Refresh to read the list again. */
  refreshKey: number;
  onUploaded: (attachment: Attachment) => void;
}

/** The ticket's files: list with download links, and an upload form. */
export function Attachments({ ticket, staff, refreshKey, onUploaded }: Props) {
  const [items, setItems] = useState<Attachment[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [internal, setInternal] = useState(false);
  const [uploading, setUploading] = useState(false);
  const [alert, setAlert] = useState<string | null>(null);
  const keys = useIdempotencyKeys();
  const inputRef = useRef<HTMLInputElement>(null);
  const ids = { file: useId(), internal: useId() };
  const ticketId = ticket.id;

  const load = useCallback(async () => {
    setLoadError(null);
    try {
      setItems(await listAttachments(ticketId));
    } catch (err) {
      setLoadError(err instanceof ApiError ? err.userMessage : 'Could not load the attachments.');
    }
  }, [ticketId]);

  useEffect(() => {
    void load();
  }, [load, refreshKey]);

  async function handleSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (uploading) return;
    if (!file) {
      setAlert('Choose a file first.');
      inputRef.current?.focus();
      return;
    }
    if (file.size === 0) {
      setAlert(`${file.name} is empty.`);
      return;
    }
    const isInternal = staff && internal;
    const key = keys.keyFor(`${ticketId}:${file.name}:${file.size}:${file.lastModified}:${isInternal}`);
    setUploading(true);
    setAlert(null);
    try {
      const a = await uploadAttachment(ticketId, file, isInternal, key);
      keys.settle();
      setFile(null);
      if (inputRef.current) inputRef.current.value = '';
      setItems((prev) => (prev && !prev.some((p) => p.id === a.id) ? [...prev, a] : prev));
      onUploaded(a);
      void load();
    } catch (err) {
      keys.settle(err);
      const apiErr = err instanceof ApiError ? err : new ApiError(0, { title: String(err) }, null);
      const details = (apiErr.problem.errors ?? []).map((fe) => (fe.field ? `${fe.field}: ${fe.detail}` : fe.detail));
      setAlert([apiErr.userMessage, ...details].join(' '));
    } finally {
      setUploading(false);
    }
  }

  return (
    <div className="attachments">
      {loadError ? (
        <RetryAlert message={loadError} onRetry={() => void load()} />
      ) : null}
      {items === null ? (
        loadError ? null : <p className="muted">Loading files…</p>
      ) : items.length === 0 ? (
        <p className="muted">No files yet.</p>
      ) : (
        <ul className="file-list" data-testid="attachments">
          {items.map((a) => (
            <li key={a.id} className={a.internal ? 'file file-internal' : 'file'}>
              <a href={attachmentHref(ticketId, a.id)} download={a.filename}>
                {a.filename}
              </a>
              <span className="muted">
                {' '}
                {fileSize(a.size)} · <time dateTime={a.created_at}>{localTime(a.created_at)}</time>
              </span>
              {a.internal ? <span className="badge badge-internal">Internal</span> : null}
            </li>
          ))}
        </ul>
      )}

      {ticket.archived_at ? null : (
        <form className="upload-form" onSubmit={handleSubmit} noValidate>
          <div className="alert-slot" role="alert">
            {alert ? <div className="alert">{alert}</div> : null}
          </div>
          <div className="field">
            <label htmlFor={ids.file}>Add a file</label>
            <input
              ref={inputRef}
              id={ids.file}
              type="file"
              name="file"
              onChange={(e) => {
                setFile(e.target.files?.[0] ?? null);
                setAlert(null);
              }}
            />
          </div>
          {staff ? (
            <div className="checkbox">
              <input
                id={ids.internal}
                type="checkbox"
                checked={internal}
                onChange={(e) => setInternal(e.target.checked)}
              />
              <label htmlFor={ids.internal}>Internal file (only staff see it)</label>
            </div>
          ) : null}
          <button
            type="submit"
            className="button-secondary button-small"
            disabled={uploading || !file}
            aria-busy={uploading || undefined}
          >
            {uploading ? 'Uploading…' : 'Upload'}
          </button>
        </form>
      )}
    </div>
  );
}
