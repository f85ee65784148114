/**
 * The cost of judging an output against its contract, per call: the extra work the
 * gateway does for a call that carries a schema (find the output in the response, parse
 * it, validate it with Ajv). Measured in process for a small output and a 50 KB one,
 * whole and streamed, then end to end through a gateway and the simulator (small
 * output, schema vs no schema). Part of `npm run bench`.
 */
import { expectedFromRequest, judgeOutput } from '../src/contracts/expected-output.js';
import { outputCollector, producedOutputOf } from '../src/contracts/produced-output.js';
import { startStack } from '../test/harness.js';

const schema = {
  type: 'object',
  properties: {
    invoice: { type: 'string' },
    lines: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, qty: { type: 'integer' }, amount: { type: 'number' } }, required: ['id', 'qty', 'amount'] } },
    total: { type: 'number' },
  },
  required: ['invoice', 'lines', 'total'],
};
const request = { model: 'gpt-4o-mini', messages: [], response_format: { type: 'json_schema', json_schema: { name: 'invoice', schema } } };
const expected = expectedFromRequest('openai-chat', request)!;

function documentOfSize(bytes: number): string {
  const lines: unknown[] = [];
  let document = '';
  for (let index = 0; document.length < bytes; index++) {
    lines.push({ id: `L${index}`, qty: index % 7, amount: index * 1.5 });
    if (index % 50 === 0 || document.length > bytes - 200) document = JSON.stringify({ invoice: 'INV-7', lines, total: 1 });
  }
  return document;
}

function chatResponse(content: string): string {
  return JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
}

/** Median microseconds of `work`, after a warm-up. */
function medianMicros(rounds: number, work: () => void): number {
  for (let index = 0; index < Math.min(rounds, 200); index++) work();
  const samples: number[] = [];
  for (let index = 0; index < rounds; index++) {
    const start = process.hrtime.bigint();
    work();
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

const results: Record<string, number> = {};
for (const [label, bytes, rounds] of [['small', 150, 20_000], ['50 KB', 50_000, 400]] as const) {
  const content = documentOfSize(bytes);
  // The relay parses the response for usage anyway; the contract's share starts from the parsed JSON.
  const parsed = JSON.parse(chatResponse(content)) as Record<string, unknown>;
  let verdict = '';
  results[`whole, ${label} (${content.length} B)`] = medianMicros(rounds, () => {
    verdict = judgeOutput(expected, producedOutputOf('openai-chat', parsed)).verdict;
  });
  if (verdict !== 'passed') throw new Error(`expected a pass, got ${verdict}`);
  // A stream: one content delta per ~4 bytes (a token), collected, then judged at the end.
  const deltas = content.match(/.{1,4}/gs)!.map((piece) => ({ choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] }));
  results[`streamed, ${label} (${deltas.length} events)`] = medianMicros(Math.max(50, Math.floor(rounds / 10)), () => {
    const collector = outputCollector('openai-chat');
    for (const delta of deltas) collector.observe(delta);
    verdict = judgeOutput(expected, collector.result()).verdict;
  });
  if (verdict !== 'passed') throw new Error(`expected a pass, got ${verdict}`);
}

console.log('\nContract validation per call, median (in process; the gateway\'s extra work for a call with a schema):');
for (const [label, micros] of Object.entries(results)) console.log(`  ${label.padEnd(34)} ${micros.toFixed(1)} µs`);

// End to end: the same small call with and without a schema, alternating, through gateway + sim.
const stack = await startStack();
try {
  const created = await stack.admin<{ token: string }>('POST', '/api/runs', {});
  const client = stack.openai(created.body.token, { maxRetries: 0 });
  const ask = (withSchema: boolean) => client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Read the invoice.' }],
    response_format: withSchema ? request.response_format as { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown> } } : { type: 'json_object' },
  }, { headers: { 'x-sim-output-json': documentOfSize(150) } });
  const timings: Record<'schema' | 'none', number[]> = { schema: [], none: [] };
  for (let index = 0; index < 100; index++) await ask(index % 2 === 0);
  for (let index = 0; index < 600; index++) {
    const withSchema = index % 2 === 0;
    const start = performance.now();
    await ask(withSchema);
    timings[withSchema ? 'schema' : 'none'].push(performance.now() - start);
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log('\nEnd to end, small output, gateway + sim in one process (median of 300 each, 2 shared cores):');
  console.log(`  with a schema (judged)   ${median(timings.schema).toFixed(3)} ms`);
  console.log(`  json_object (no contract) ${median(timings.none).toFixed(3)} ms`);
} finally {
  await stack.close();
}
