import type { Logger } from './log.js';

/**
 * Fire-and-forget JSON webhooks with a timeout. The payload carries a Slack-compatible
 * `text` next to the structured fields, so one URL works for Slack and for machines.
 */
export function postWebhook(url: string, payload: Record<string, unknown> & { text: string }, log: Logger): void {
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(5000),
  }).then(
    (response) => {
      if (!response.ok) log.warn('webhook refused', { status: response.status, type: payload.type });
      return response.body?.cancel();
    },
    (error: Error) => log.warn('webhook failed', { error: error.message, type: payload.type }),
  );
}
