import { textOf, type Protocol } from '../core/tokenizer.js';

/**
 * A call's instructions, read and extended in each protocol's own place for them: Chat
 * Completions' system message, the Responses API's `instructions`, Anthropic's `system`.
 */

/** The task a call is about: its instructions, its first user turn, and its latest one. */
export function taskTextOf(protocol: Protocol, body: Record<string, unknown>): string {
  const parts: string[] = [];
  let userTurns: unknown[] = [];
  if (protocol === 'openai-responses') {
    if (typeof body.instructions === 'string') parts.push(body.instructions);
    if (typeof body.input === 'string') userTurns = [body.input];
    else if (Array.isArray(body.input)) userTurns = body.input.filter((item) => roleOf(item) === 'user' || roleOf(item) === undefined);
  } else {
    if (protocol === 'anthropic-messages' && body.system !== undefined) parts.push(textOf(body.system));
    const messages = Array.isArray(body.messages) ? body.messages : [];
    for (const message of messages) {
      const role = roleOf(message);
      if (role === 'system' || role === 'developer') parts.push(textOf(message));
    }
    userTurns = messages.filter((message) => roleOf(message) === 'user');
  }
  if (userTurns.length > 0) parts.push(textOf(userTurns[0]));
  if (userTurns.length > 1) parts.push(textOf(userTurns[userTurns.length - 1]));
  const text = parts.filter((part) => part !== '').join('\n');
  // Long prompts: their start and end say what the task is; the middle is usually data.
  return text.length <= 16_000 ? text : `${text.slice(0, 8000)}\n…\n${text.slice(-8000)}`;
}

/** The body with `block` added to its instructions (a new object; the original is untouched). */
export function withInstructions(protocol: Protocol, body: Record<string, unknown>, block: string): Record<string, unknown> {
  if (protocol === 'openai-responses') {
    const instructions = typeof body.instructions === 'string' && body.instructions !== '' ? `${body.instructions}\n\n${block}` : block;
    return { ...body, instructions };
  }
  if (protocol === 'anthropic-messages') {
    const system = body.system;
    if (typeof system === 'string' && system !== '') return { ...body, system: `${system}\n\n${block}` };
    if (Array.isArray(system) && system.length > 0) return { ...body, system: [...system, { type: 'text', text: block }] };
    return { ...body, system: block };
  }
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const first = messages[0] as Record<string, unknown> | undefined;
  const role = roleOf(first);
  if ((role === 'system' || role === 'developer') && typeof first!.content === 'string') {
    return { ...body, messages: [{ ...first, content: `${first!.content as string}\n\n${block}` }, ...messages.slice(1)] };
  }
  return { ...body, messages: [{ role: 'system', content: block }, ...messages] };
}

function roleOf(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  const role = (item as { role?: unknown }).role;
  return typeof role === 'string' ? role : undefined;
}
