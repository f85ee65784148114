import { describe, expect, it } from 'vitest';
import { contractOf, JsonSchemaContractCheck } from './contract-check.js';

const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false };
const check = new JsonSchemaContractCheck();

describe('verdicts from the request\'s JSON Schema', () => {
  it('judges Chat Completions content against response_format', () => {
    const request = { model: 'm', messages: [], response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } };
    const answer = (content: string | null) => ({ choices: [{ message: { role: 'assistant', content } }] });
    expect(check.verdictOf({ protocol: 'openai-chat', request, response: answer('{"n":3}') })).toBe('passed');
    expect(check.verdictOf({ protocol: 'openai-chat', request, response: answer('{"n":"three"}') })).toBe('failed');
    expect(check.verdictOf({ protocol: 'openai-chat', request, response: answer('three') })).toBe('failed');
    expect(check.verdictOf({ protocol: 'openai-chat', request, response: answer(null) })).toBe('failed');
    expect(check.verdictOf({ protocol: 'openai-chat', request: { model: 'm', messages: [] }, response: answer('three') })).toBe('none');
  });

  it('judges Responses output_text against text.format', () => {
    const request = { model: 'm', input: 'x', text: { format: { type: 'json_schema', name: 'x', schema } } };
    const answer = (text: string) => ({ output: [{ type: 'message', content: [{ type: 'output_text', text }] }] });
    expect(check.verdictOf({ protocol: 'openai-responses', request, response: answer('{"n":1}') })).toBe('passed');
    expect(check.verdictOf({ protocol: 'openai-responses', request, response: answer('{"n":1,"extra":true}') })).toBe('failed');
  });

  it('judges an Anthropic forced tool\'s input against its input_schema', () => {
    const request = { model: 'm', messages: [], tools: [{ name: 'record', input_schema: schema }], tool_choice: { type: 'tool', name: 'record' } };
    expect(contractOf('anthropic-messages', request)).toEqual({ schema, tool: 'record' });
    const answer = (input: unknown) => ({ content: [{ type: 'tool_use', id: 't', name: 'record', input }] });
    expect(check.verdictOf({ protocol: 'anthropic-messages', request, response: answer({ n: 2 }) })).toBe('passed');
    expect(check.verdictOf({ protocol: 'anthropic-messages', request, response: answer({}) })).toBe('failed');
    expect(check.verdictOf({ protocol: 'anthropic-messages', request, response: { content: [{ type: 'text', text: 'no' }] } })).toBe('failed');
    // A tool offered but not forced is no contract.
    expect(contractOf('anthropic-messages', { ...request, tool_choice: { type: 'auto' } })).toBeUndefined();
  });

  it('gives no verdict for a schema Ajv cannot compile', () => {
    const request = { model: 'm', messages: [], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'no-such-type' } } } };
    expect(check.verdictOf({ protocol: 'openai-chat', request, response: { choices: [{ message: { content: '{}' } }] } })).toBe('none');
  });
});
