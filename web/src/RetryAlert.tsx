/** Something could not be loaded: why, and a "Try again" button. */
export function RetryAlert({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <div className="alert alert-inline" role="alert">
      <span>{message}</span>
      <button type="button" className="button-link" onClick={onRetry}>
        Try again
      </button>
    </div>
  );
}
