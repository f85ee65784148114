import type { CallRecord, ReservationRecord } from './ledger.js';

/**
 * The rows every model call writes, a call's entry and its reservation, as column names and
 * values in one order: both ledgers (SQLite and PostgreSQL) insert them by position. For
 * SQLite that is also the fast way: better-sqlite3 binds a named parameter by looking the name
 * up on the object through V8's API, which for the 33 columns of a call cost 15 µs of the
 * gateway's CPU per call, more than SQLite's insert itself.
 */
type Column<T> = readonly [name: string, value: (record: T) => unknown];

const CALL_COLUMNS: readonly Column<CallRecord>[] = [
  ['id', (call) => call.id],
  ['run_id', (call) => call.runId],
  ['key_id', (call) => call.keyId],
  ['project', (call) => call.project],
  ['step', (call) => call.step],
  ['agent', (call) => call.agent],
  ['provider', (call) => call.provider],
  ['model', (call) => call.model],
  ['protocol', (call) => call.protocol],
  ['stream', (call) => (call.stream ? 1 : 0)],
  ['input_tokens', (call) => call.inputTokens],
  ['cache_read_tokens', (call) => call.cacheReadTokens],
  ['cache_write_tokens', (call) => call.cacheWriteTokens],
  ['output_tokens', (call) => call.outputTokens],
  ['reasoning_tokens', (call) => call.reasoningTokens],
  ['cost', (call) => call.cost],
  ['estimated', (call) => (call.estimated ? 1 : 0)],
  ['status', (call) => call.status],
  ['http_status', (call) => call.httpStatus],
  ['error_code', (call) => call.errorCode],
  ['upstream_request_id', (call) => call.upstreamRequestId],
  ['started_at', (call) => call.startedAt],
  ['latency_ms', (call) => call.latencyMs],
  ['ttft_ms', (call) => call.timeToFirstTokenMs],
  ['contract_verdict', (call) => call.contractVerdict ?? 'none'],
  ['contract_name', (call) => call.contractName ?? null],
  ['contract_version', (call) => call.contractVersion ?? null],
  ['contract_violation', (call) => call.contractViolation ?? null],
  ['attempt', (call) => call.attempt ?? 1],
  ['retry_of', (call) => call.retryOf ?? null],
  ['route_policy', (call) => call.routePolicy ?? null],
  ['precedents_injected', (call) => (call.precedentsInjected && call.precedentsInjected.length > 0 ? JSON.stringify(call.precedentsInjected) : null)],
  ['precedent_tokens', (call) => call.precedentTokens ?? 0],
];

const RESERVATION_COLUMNS: readonly Column<ReservationRecord>[] = [
  ['id', (reservation) => reservation.id],
  ['run_id', (reservation) => reservation.runId],
  ['key_id', (reservation) => reservation.keyId],
  ['project', (reservation) => reservation.project],
  ['step', (reservation) => reservation.step],
  ['agent', (reservation) => reservation.agent],
  ['provider', (reservation) => reservation.provider],
  ['model', (reservation) => reservation.model],
  ['protocol', (reservation) => reservation.protocol],
  ['stream', (reservation) => (reservation.stream ? 1 : 0)],
  ['prompt_tokens', (reservation) => reservation.promptTokens],
  ['reserved', (reservation) => reservation.reserved],
  ['created_at', (reservation) => reservation.createdAt],
];

export const CALL_COLUMN_NAMES: readonly string[] = CALL_COLUMNS.map(([name]) => name);
export const RESERVATION_COLUMN_NAMES: readonly string[] = RESERVATION_COLUMNS.map(([name]) => name);

export function callValues(call: CallRecord): unknown[] {
  return CALL_COLUMNS.map(([, value]) => value(call));
}

export function reservationValues(reservation: ReservationRecord): unknown[] {
  return RESERVATION_COLUMNS.map(([, value]) => value(reservation));
}
