// Status, priority and escalation badges. They keep the API's lower-case
// words as text (CSS capitalizes them), with "_" shown as a space.

export function label(value: string): string {
  return value.replace(/_/g, ' ');
}

function slug(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

export function Badge({ kind, value }: { kind: 'status' | 'priority'; value: string }) {
  return (
    <span className={`badge badge-${kind} badge-${kind}-${slug(value)}`} data-value={value}>
      {label(value)}
    </span>
  );
}

/** "Escalation level 2"; nothing at level 0. */
export function EscalationBadge({ level }: { level: number | undefined }) {
  if (!level) return null;
  return (
    <span className="badge badge-escalation" data-testid="escalation-level" data-value={level}>
      Escalation level {level}
    </span>
  );
}
