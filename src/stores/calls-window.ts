/** Which calls a spend or waste query covers: a time window and, optionally, one run. */
export interface CallsWindow {
  since?: number | undefined;
  until?: number | undefined;
  runId?: string | undefined;
}

/**
 * The WHERE clause (empty when unbounded) and its parameters, for either engine: SQLite
 * numbers its placeholders itself (`?`), PostgreSQL needs them counted (`$1`, `$2`, ...).
 */
export function callsWhere(window: CallsWindow, placeholders: 'sqlite' | 'postgres'): { where: string; parameters: unknown[] } {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  const add = (column: string, value: unknown) => {
    parameters.push(value);
    conditions.push(`${column} ${placeholders === 'sqlite' ? '?' : `$${parameters.length}`}`);
  };
  if (window.since !== undefined) add('started_at >=', window.since);
  if (window.until !== undefined) add('started_at <', window.until);
  if (window.runId !== undefined) add('run_id =', window.runId);
  return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', parameters };
}
