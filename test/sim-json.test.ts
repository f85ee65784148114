import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../src/core/tokenizer.js';
import { sampleFromSchema } from '../src/sim/json-schema-sample.js';
import { startSim, type SimServer } from '../src/sim/index.js';
import { proseTokens } from '../src/sim/vocabulary.js';

/** A deliberately small validator for the keywords the sampler claims to honour. */
function violations(value: unknown, schema: Record<string, unknown>, root = schema, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref === '#' ? root : (schema.$ref.slice(2).split('/').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], root) as Record<string, unknown>);
    return violations(value, target, root, path);
  }
  if (Array.isArray(schema.anyOf)) {
    return schema.anyOf.some((branch) => violations(value, branch as Record<string, unknown>, root, path).length === 0) ? [] : [`${path}: no anyOf branch`];
  }
  if (Array.isArray(schema.allOf)) return schema.allOf.flatMap((part) => violations(value, part as Record<string, unknown>, root, path));
  if ('const' in schema && value !== schema.const) return [`${path}: not const`];
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) return [`${path}: not in enum`];
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (types.length > 0 && !types.some((type) => type === actual || (type === 'number' && actual === 'integer'))) return [`${path}: ${actual} is not ${types.join('|')}`];
  const problems: string[] = [];
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) problems.push(`${path}: below minimum`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) problems.push(`${path}: above maximum`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) problems.push(`${path}: not above exclusiveMinimum`);
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) problems.push(`${path}: not below exclusiveMaximum`);
    if (typeof schema.multipleOf === 'number' && Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9) problems.push(`${path}: not a multiple`);
  }
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) problems.push(`${path}: too short`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) problems.push(`${path}: too long`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) problems.push(`${path}: too few items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) problems.push(`${path}: too many items`);
    if (schema.uniqueItems === true && new Set(value.map((item) => JSON.stringify(item))).size !== value.length) problems.push(`${path}: duplicates`);
    value.forEach((item, index) => problems.push(...violations(item, (schema.items ?? {}) as Record<string, unknown>, root, `${path}[${index}]`)));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    for (const name of (schema.required ?? []) as string[]) if (!(name in record)) problems.push(`${path}.${name}: missing`);
    for (const [name, item] of Object.entries(record)) {
      if (properties[name]) problems.push(...violations(item, properties[name], root, `${path}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${path}.${name}: not allowed`);
    }
  }
  return problems;
}

const ORDER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'status', 'items', 'total', 'note', 'created', 'customer'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: ['open', 'paid', 'shipped'] },
    items: {
      type: 'array',
      minItems: 2,
      maxItems: 4,
      items: { type: 'object', required: ['sku', 'quantity', 'price'], properties: { sku: { type: 'string', minLength: 5, maxLength: 8 }, quantity: { type: 'integer', minimum: 1, maximum: 9 }, price: { type: 'number', exclusiveMinimum: 0, maximum: 100 } } },
    },
    total: { type: 'number', multipleOf: 0.5, minimum: 10 },
    note: { anyOf: [{ type: 'null' }, { type: 'string', maxLength: 20 }] },
    created: { type: 'string', format: 'date-time' },
    customer: { $ref: '#/$defs/customer' },
    flags: { type: 'array', items: { type: 'boolean' }, uniqueItems: true },
    level: { type: ['integer', 'null'], exclusiveMaximum: 3, exclusiveMinimum: 0 },
    rank: { const: 'gold' },
  },
  $defs: {
    customer: { allOf: [{ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }, { properties: { email: { type: 'string', format: 'email' } }, required: ['email'] }] },
  },
};

describe('JSON Schema sampler', () => {
  it('produces values valid against the schema, for many seeds', () => {
    for (let seed = 0; seed < 200; seed++) {
      const value = sampleFromSchema(ORDER_SCHEMA, seed);
      expect(violations(value, ORDER_SCHEMA)).toEqual([]);
    }
  });

  it('is deterministic', () => {
    expect(sampleFromSchema(ORDER_SCHEMA, 42)).toEqual(sampleFromSchema(ORDER_SCHEMA, 42));
  });

  it('terminates on recursive schemas', () => {
    const tree = { type: 'object', properties: { label: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } } }, required: ['label'] };
    expect(violations(sampleFromSchema(tree, 7), tree)).toEqual([]);
  });
});

describe('prose vocabulary', () => {
  it('re-tokenizes to exactly as many tokens as pieces, at every length', () => {
    for (const count of [0, 1, 2, 17, 64, 1000, 5000]) {
      const pieces = proseTokens(count * 31 + 7, count);
      expect(countTextTokens(pieces.join(''))).toBe(count);
      for (const piece of pieces.slice(0, 200)) expect(countTextTokens(piece)).toBe(1);
    }
  });
});

let sim: SimServer;
let openai: OpenAI;
beforeAll(async () => {
  sim = await startSim();
  openai = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
});
afterAll(() => sim.close());

const messages = [{ role: 'user' as const, content: 'Make an order.' }];
const responseFormat = { type: 'json_schema' as const, json_schema: { name: 'order', schema: ORDER_SCHEMA, strict: true } };

describe('structured outputs over the wire', () => {
  it('chat json_schema: a valid document, usage equal to its tokens', async () => {
    const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, response_format: responseFormat });
    const text = completion.choices[0]?.message.content ?? '';
    expect(violations(JSON.parse(text), ORDER_SCHEMA)).toEqual([]);
    expect(completion.usage?.completion_tokens).toBe(countTextTokens(text));
  });

  it('chat json_schema streamed: one token per delta, same document as non-streamed', async () => {
    const whole = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, response_format: responseFormat });
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, response_format: responseFormat, stream: true, stream_options: { include_usage: true } });
    const deltas: string[] = [];
    let usage = -1;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
      if (chunk.usage) usage = chunk.usage.completion_tokens;
    }
    expect(deltas.join('')).toBe(whole.choices[0]?.message.content);
    expect(usage).toBe(deltas.length);
    expect(countTextTokens(deltas.join(''))).toBe(deltas.length);
  });

  it('chat json_object: a JSON object', async () => {
    const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, response_format: { type: 'json_object' } });
    expect(typeof JSON.parse(completion.choices[0]?.message.content ?? '')).toBe('object');
  });

  it('a cap cuts the document, with finish_reason length and exact usage', async () => {
    const completion = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, response_format: responseFormat, max_completion_tokens: 10 });
    const text = completion.choices[0]?.message.content ?? '';
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(countTextTokens(text));
    expect(completion.usage?.completion_tokens).toBeLessThanOrEqual(10);
  });

  it('responses text.format json_schema: a valid document', async () => {
    const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'Make an order.', text: { format: { type: 'json_schema', name: 'order', schema: ORDER_SCHEMA, strict: true } } });
    expect(violations(JSON.parse(response.output_text), ORDER_SCHEMA)).toEqual([]);
    expect(response.usage?.output_tokens).toBe(countTextTokens(response.output_text));
  });
});
