/** Server-sent events as the gateway re-emits them: whole events only, never a fragment. */
export interface SseEvent {
  event?: string | undefined;
  data: string;
}

export function serializeEvent(event: SseEvent): string {
  const head = event.event ? `event: ${event.event}\n` : '';
  // A data field spanning lines is sent as one data: line per line, as the spec requires.
  const data = event.data.includes('\n') ? event.data.split('\n').map((line) => `data: ${line}`).join('\n') : `data: ${event.data}`;
  return `${head}${data}\n\n`;
}

/** Parses an event's JSON data; undefined for "[DONE]" and for garbage the upstream sent. */
export function eventJson(event: SseEvent): Record<string, unknown> | undefined {
  if (event.data === '[DONE]' || event.data.length === 0) return undefined;
  try {
    const value: unknown = JSON.parse(event.data);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
