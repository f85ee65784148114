import type { IncomingMessage } from 'node:http';
import { invalidRequest } from '../protocols/errors.js';
import { taskTextOf, withInstructions } from '../protocols/instructions.js';
import type { Gateway } from './gateway.js';
import { headerValue } from './http.js';
import type { CallContext } from './settle.js';

/**
 * Before a labelled call is forwarded: its task is remembered (a failure recorded later
 * needs it), and, when injection is wanted, the precedents retrieved for its step are added
 * to its instructions. The body sent upstream is the one metered: their tokens are in the
 * prompt the budget admits and the provider bills.
 */
export async function preparePrecedents(gateway: Gateway, request: IncomingMessage, call: CallContext): Promise<void> {
  const header = headerValue(request, 'x-intime-precedents');
  if (header !== undefined && header !== 'on' && header !== 'off') throw invalidRequest('header x-intime-precedents must be "on" or "off"', 'x-intime-precedents');
  // Only calls that can fail at a known place (a step or a contract) are worth remembering.
  if (call.step === null && !call.contract) return;
  const taskText = taskTextOf(call.request.protocol, call.request.upstreamBody);
  gateway.precedents.remember(call.id, { taskText, output: '', step: call.step });
  if (!gateway.precedents.injectionWanted(call.step, header)) return;
  const run = call.identity.kind === 'run' ? call.identity.run : undefined;
  const injection = await gateway.precedents.retrieve({
    stage: call.step!,
    pipeline: run?.name ?? null,
    project: run?.project ?? (call.identity.kind === 'key' ? call.identity.key.project : null),
    taskText,
  });
  call.precedents = injection.precedents;
  call.precedentTokens = injection.tokens;
  if (injection.precedents.length === 0) return;
  call.request = { ...call.request, upstreamBody: withInstructions(call.request.protocol, call.request.upstreamBody, injection.text) };
}

/** Says on the answer which precedents the call carried and what they added to its prompt. */
export function precedentHeaders(call: CallContext): Record<string, string> {
  if (call.precedents === undefined) return {};
  return {
    'x-intime-precedents': call.precedents.map((entry) => entry.id).join(','),
    'x-intime-precedent-tokens': String(call.precedentTokens ?? 0),
  };
}
