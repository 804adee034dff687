// A modal dialog on the browser's own <dialog>: it traps the focus, puts
// the rest of the page out of reach and closes on Esc (when allowed).
import { useEffect, useId, useRef, type ReactNode } from 'react';

interface Props {
  title: string;
  /** Esc or the close button; not offered while closable is false. */
  onClose: () => void;
  closable?: boolean;
  className?: string;
  children: ReactNode;
  testId?: string;
}

export function Modal({ title, onClose, closable = true, className, children, testId }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className={className ? `modal ${className}` : 'modal'}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        if (closable) onClose();
      }}
      data-testid={testId}
    >
      <div className="modal-head">
        <h2 id={titleId}>{title}</h2>
        {closable ? (
          <button type="button" className="button-ghost modal-close" onClick={onClose} aria-label="Close the dialog">
            ×
          </button>
        ) : null}
      </div>
      {children}
    </dialog>
  );
}
