/**
 * The simulated model provider: a local HTTP server speaking OpenAI Chat Completions
 * (POST /v1/chat/completions), OpenAI Responses (POST /v1/responses) and Anthropic
 * Messages (POST /v1/messages), SSE included, with real tokenization and deterministic
 * output. Every response carries `x-intime-simulated: true`.
 *
 * Request headers that steer it:
 *   x-sim-output-tokens: N       exactly N text tokens (capped by the request's max tokens)
 *   x-sim-latency-ms: N          non-stream: before any byte; stream: headers at once, first event after N ms
 *   x-sim-tokens-per-second: R   stream pacing (absent or <= 0: as fast as the socket takes it)
 *   x-sim-fault: 429 | 500 | disconnect-mid-stream | no-usage | slow-drip | malformed-json
 *   x-sim-tool-call: NAME        answer with a call of this tool (x-sim-tool-args: JSON to fix its arguments)
 *   x-sim-text-before-tool: N    N text tokens before that tool call
 * Control: GET /sim/stats, POST /sim/reset.
 */
export { startSim } from './server.js';
export type { SimClosedEvent, SimEvents, SimOptions, SimRequestEvent, SimServer, SimStats } from './server.js';
export { FAULTS, type Fault } from './directives.js';
