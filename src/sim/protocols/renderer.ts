import type { OutputPlan } from '../output-plan.js';
import type { StreamEvent } from '../paced-stream.js';
import type { SimulatedCall } from '../simulated-call.js';

/** How one wire protocol writes a planned output: whole, or as server-sent events. */
export interface ProtocolRenderer {
  /** The complete JSON body of a non-streaming response. */
  completeBody(call: SimulatedCall, plan: OutputPlan): string;
  /** The stream's events in order; generated lazily, so an abandoned stream costs nothing more. */
  streamEvents(call: SimulatedCall, plan: OutputPlan): Iterator<StreamEvent>;
  /** An event whose data is not valid JSON, for the malformed-json fault. */
  malformedEvent(call: SimulatedCall): string;
  /** The response header carrying the request id (x-request-id or request-id). */
  requestIdHeader: string;
}

/** One server-sent event; `data` must be a single line (JSON.stringify never emits newlines). */
export function sse(eventName: string | undefined, data: string): string {
  return eventName === undefined ? `data: ${data}\n\n` : `event: ${eventName}\ndata: ${data}\n\n`;
}

export const json = JSON.stringify;

export function event(text: string, tokens = 0): StreamEvent {
  return { text, tokens };
}
