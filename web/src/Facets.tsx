// Counts per value of the results' status, priority, team, assignee,
// category, tag and channel. A value is a button: it adds field:value to
// the query, or takes it out when the query has it.
import { FACET_FIELDS, type FacetField, type FacetValue } from './api';
import { label } from './Badge';
import { hasTerm } from './queryLang';

const TITLES: Record<FacetField, string> = {
  status: 'Status',
  priority: 'Priority',
  assignee: 'Assignee',
  team: 'Team',
  category: 'Category',
  tag: 'Tag',
  channel: 'Channel',
};

interface Props {
  facets: Partial<Record<FacetField, FacetValue[]>>;
  query: string;
  onToggle: (field: FacetField, value: string) => void;
}

export function Facets({ facets, query, onToggle }: Props) {
  const shown = FACET_FIELDS.filter((f) => (facets[f]?.length ?? 0) > 0);
  if (shown.length === 0) return null;
  return (
    <nav className="facets" aria-label="Refine the results">
      {shown.map((field) => (
        <section key={field} className="facet-group" data-testid="facet-group" data-field={field}>
          <h3>{TITLES[field]}</h3>
          <ul>
            {facets[field]!.map((v) => {
              const on = hasTerm(query, field, v.value);
              const text = field === 'status' || field === 'priority' ? label(v.value) : v.value;
              return (
                <li key={v.value}>
                  <button
                    type="button"
                    className={on ? 'facet facet-on' : 'facet'}
                    aria-pressed={on}
                    title={on ? `Remove ${field}:${v.value} from the query` : `Add ${field}:${v.value} to the query`}
                    onClick={() => onToggle(field, v.value)}
                    data-testid="facet"
                    data-field={field}
                    data-value={v.value}
                  >
                    <span className="facet-value">{text}</span>
                    <span className="facet-count">{v.count.toLocaleString()}</span>
                  </button>
                </li>
              );
            })}
          </ul>
        </section>
      ))}
    </nav>
  );
}
