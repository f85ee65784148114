import type { Protocol } from '../core/tokenizer.js';
import { asRecord } from '../protocols/adapter.js';
import { arrayOf } from '../protocols/openai-chat.js';
import type { ContractJudgement, ContractRecord } from '../stores/ledger.js';
import type { ProducedOutput } from './produced-output.js';
import { validateAgainst } from './validator.js';

/** What a call's output must be, and by which contract: from the request itself or a registered one. */
export type ExpectedOutput =
  | { kind: 'document'; name: string; version: number | null; schema: unknown }
  /** Anthropic tools: every call of a listed tool must match that tool's input_schema. */
  | { kind: 'tool-input'; name: string; version: null; tools: Map<string, unknown>; requireTool: boolean };

/**
 * The schema a request carries, if any: OpenAI Chat `response_format` json_schema,
 * Responses `text.format` json_schema, or Anthropic tools' `input_schema`.
 */
export function expectedFromRequest(protocol: Protocol, body: Record<string, unknown>): ExpectedOutput | undefined {
  if (protocol === 'openai-chat') {
    const format = asRecord(body.response_format);
    const jsonSchema = asRecord(format?.json_schema);
    if (format?.type !== 'json_schema' || !jsonSchema) return undefined;
    return { kind: 'document', name: typeof jsonSchema.name === 'string' ? jsonSchema.name : 'response_format', version: null, schema: jsonSchema.schema ?? {} };
  }
  if (protocol === 'openai-responses') {
    const format = asRecord(asRecord(body.text)?.format);
    if (format?.type !== 'json_schema') return undefined;
    return { kind: 'document', name: typeof format.name === 'string' ? format.name : 'text.format', version: null, schema: format.schema ?? {} };
  }
  const tools = new Map<string, unknown>();
  for (const tool of arrayOf(body.tools).map(asRecord)) {
    if (typeof tool?.name === 'string' && asRecord(tool.input_schema)) tools.set(tool.name, tool.input_schema);
  }
  if (tools.size === 0) return undefined;
  const choice = asRecord(body.tool_choice);
  const forcedName = choice?.type === 'tool' && typeof choice.name === 'string' ? choice.name : undefined;
  const name = forcedName ?? (tools.size === 1 ? [...tools.keys()][0]! : 'input_schema');
  return { kind: 'tool-input', name: `tool:${name}`, version: null, tools, requireTool: choice?.type === 'tool' || choice?.type === 'any' };
}

export function expectedFromRegistered(contract: ContractRecord): ExpectedOutput {
  return { kind: 'document', name: contract.name, version: contract.version, schema: contract.schema };
}

/** Judges what the model produced against what was expected. Pure and synchronous. */
export function judgeOutput(expected: ExpectedOutput, produced: ProducedOutput): ContractJudgement {
  const judged = (verdict: ContractJudgement['verdict'], violation: string | null): ContractJudgement =>
    ({ verdict, name: expected.name, version: expected.version, violation });
  if (produced.refusal !== null) return judged('failed', `the model refused: ${clip(produced.refusal)}`);
  if (expected.kind === 'tool-input') {
    const calls = produced.toolCalls.filter((call) => expected.tools.has(call.name));
    if (calls.length === 0) return expected.requireTool ? judged('failed', 'the model called no tool although one was required') : judged('none', null);
    for (const call of calls) {
      const verdict = judgeDocument(call.arguments, expected.tools.get(call.name), produced.truncated, `tool ${call.name} input`);
      if (verdict.verdict !== 'passed') return { ...verdict, name: expected.name, version: null };
    }
    return judged('passed', null);
  }
  // A registered contract may be met by a tool call's arguments when the model answered only with one.
  const document = produced.text.trim() === '' && produced.toolCalls.length === 1 ? produced.toolCalls[0]!.arguments : produced.text;
  return { ...judgeDocument(document, expected.schema, produced.truncated, 'output'), name: expected.name, version: expected.version };
}

function judgeDocument(document: string | Record<string, unknown>, schema: unknown, truncated: boolean, what: string): ContractJudgement {
  const result = (verdict: ContractJudgement['verdict'], violation: string | null): ContractJudgement => ({ verdict, name: null, version: null, violation });
  let value: unknown = document;
  if (typeof document === 'string') {
    if (document.trim() === '') return result('failed', `${what} is empty${truncated ? ' (cut off at the token limit)' : ''}`);
    try {
      value = JSON.parse(document);
    } catch (error) {
      return result('failed', `${what} is not valid JSON${truncated ? ' (cut off at the token limit)' : `: ${(error as Error).message}`}`);
    }
  }
  const check = validateAgainst(schema, value);
  if (check.valid === true) return result('passed', null);
  if (check.valid === 'unusable') return result('none', check.violation);
  return result('failed', `${what} ${check.violation}`);
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
