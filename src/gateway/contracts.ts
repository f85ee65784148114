import type { IncomingMessage } from 'node:http';
import { expectedFromRegistered, expectedFromRequest, judgeOutput, type ExpectedOutput } from '../contracts/expected-output.js';
import { outputCollector, producedOutputOf } from '../contracts/produced-output.js';
import type { Protocol } from '../core/tokenizer.js';
import { GatewayError, invalidRequest } from '../protocols/errors.js';
import type { CallRecord, ContractJudgement } from '../stores/ledger.js';
import type { Gateway } from './gateway.js';
import { headerValue } from './http.js';
import { readLabel } from './identity.js';
import type { CallContext } from './settle.js';

/** `x-intime-contract: NAME` (latest version) or `NAME@VERSION`. */
const CONTRACT_REFERENCE = /^([A-Za-z0-9._:\/-]{1,128})(?:@([1-9][0-9]{0,8}))?$/;

/**
 * The contract a call must meet: a registered one it names (which wins), or the schema
 * its own request carries. Naming an unknown contract is refused before anything is spent.
 */
export async function resolveExpectedOutput(gateway: Gateway, request: IncomingMessage, protocol: Protocol, body: Record<string, unknown>): Promise<ExpectedOutput | undefined> {
  const reference = headerValue(request, 'x-intime-contract');
  if (reference === undefined || reference === '') return expectedFromRequest(protocol, body);
  const match = CONTRACT_REFERENCE.exec(reference);
  if (!match) throw invalidRequest('header x-intime-contract must be NAME or NAME@VERSION', 'x-intime-contract');
  const version = match[2] === undefined ? undefined : Number(match[2]);
  const contract = await gateway.ledger.getContract(match[1]!, version);
  if (!contract) {
    throw new GatewayError('contract_not_found', 'invalid_request', `no contract "${reference}" is registered (POST /api/contracts)`, { param: 'x-intime-contract', retryable: false });
  }
  return expectedFromRegistered(contract);
}

/** Retry tags the library sets so the ledger can tell a first try from the attempts that followed a failure. */
export function readAttempt(request: IncomingMessage): { attempt: number; retryOf: string | null } {
  const text = headerValue(request, 'x-intime-attempt');
  const attempt = text === undefined || text === '' ? 1 : Number(text);
  if (!Number.isSafeInteger(attempt) || attempt < 1 || attempt > 1000) throw invalidRequest('header x-intime-attempt must be an integer from 1 to 1000', 'x-intime-attempt');
  return { attempt, retryOf: readLabel(request, 'x-intime-retry-of') };
}

export function judgeWholeResponse(call: CallContext, json: Record<string, unknown>): ContractJudgement | undefined {
  return call.contract && judgeOutput(call.contract, producedOutputOf(call.request.protocol, json));
}

/** Collects a stream's output as it passes, to judge once the stream is complete. */
export function streamJudge(call: CallContext): { observe(json: Record<string, unknown>): void; judge(): ContractJudgement } | undefined {
  const expected = call.contract;
  if (!expected) return undefined;
  const collector = outputCollector(call.request.protocol);
  return { observe: (json) => collector.observe(json), judge: () => judgeOutput(expected, collector.result()) };
}

/** Response headers for a judged call. A stream's verdict comes after its headers: it says `pending` there. */
export function verdictHeaders(record: Pick<CallRecord, 'contractVerdict' | 'contractName' | 'contractVersion'> | undefined): Record<string, string> {
  if (!record?.contractName) return {};
  return {
    'x-intime-contract-verdict': record.contractVerdict ?? 'none',
    'x-intime-contract': encodeURIComponent(record.contractVersion === null || record.contractVersion === undefined ? record.contractName : `${record.contractName}@${record.contractVersion}`),
  };
}
