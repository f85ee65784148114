import { createHash } from 'node:crypto';
import { toApproximateUsd } from '../core/money.js';
import type { CallRecord, RunRecord } from '../stores/ledger.js';
import type { Logger } from './log.js';

/**
 * OpenTelemetry export: runs, steps and calls as trace spans, posted as OTLP/HTTP JSON to
 * <endpoint>/v1/traces. A run tree is one trace (the root run's); a call is a span under
 * its step's span, or its run's; attributes follow the GenAI semantic conventions plus
 * the cost. Ids are derived from ours (a hash), so spans sent at different times — a call
 * when it settles, its run and steps when the run ends — join into one tree.
 *
 * Hand-written rather than the OTel SDK: the SDK times spans as they run, while ours are
 * rebuilt from ledger rows after the fact; the JSON encoding is small and documented.
 * Export is best effort: a batch the collector refuses is logged and dropped.
 */
export interface OtlpOptions {
  endpoint: string;
  headers?: Record<string, string>;
  serviceName: string;
  log: Logger;
  /** Flush at least this often. */
  intervalMs?: number;
}

type AttributeValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: AttributeValue }[];
  status: { code: number; message?: string };
}

const SPAN_KIND_INTERNAL = 1;
const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
const BATCH = 256;

export class OtlpExporter {
  private queue: OtlpSpan[] = [];
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly options: OtlpOptions) {
    this.timer = setInterval(() => void this.flush(), options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** A settled call; `chain` is its run and the run's ancestors, own first. */
  exportCall(call: CallRecord, chain: RunRecord[]): void {
    const root = chain.at(-1);
    const run = chain[0];
    const traceId = hex(`trace:${root?.id ?? call.id}`, 32);
    const parentSpanId = run ? (call.step ? stepSpanId(run.id, call.step) : runSpanId(run.id)) : undefined;
    const failed = call.status !== 'ok';
    this.push({
      traceId,
      spanId: hex(`call:${call.id}`, 16),
      ...(parentSpanId ? { parentSpanId } : {}),
      name: `chat ${call.model}`,
      kind: SPAN_KIND_CLIENT,
      startTimeUnixNano: nanos(call.startedAt),
      endTimeUnixNano: nanos(call.startedAt, call.latencyMs),
      attributes: attributes({
        'gen_ai.operation.name': 'chat',
        'gen_ai.system': call.provider,
        'gen_ai.provider.name': call.provider,
        'gen_ai.request.model': call.model,
        'gen_ai.response.model': call.model,
        'gen_ai.response.id': call.upstreamRequestId,
        'gen_ai.usage.input_tokens': int(call.inputTokens + call.cacheReadTokens + call.cacheWriteTokens),
        'gen_ai.usage.output_tokens': int(call.outputTokens),
        'intime.usage.cache_read_tokens': int(call.cacheReadTokens),
        'intime.usage.cache_write_tokens': int(call.cacheWriteTokens),
        'intime.usage.reasoning_tokens': int(call.reasoningTokens),
        'intime.cost_usd': toApproximateUsd(call.cost),
        'intime.estimated': call.estimated,
        'intime.call.id': call.id,
        'intime.call.status': call.status,
        'intime.protocol': call.protocol,
        'intime.stream': call.stream,
        'intime.run.id': run?.id ?? null,
        'intime.key.id': call.keyId,
        'intime.project': call.project,
        'intime.step': call.step,
        'intime.agent': call.agent,
        'http.response.status_code': int(call.httpStatus),
        'error.type': failed ? call.errorCode ?? call.status : null,
        ...contractAttributes(call),
        'intime.attempt': int(call.attempt ?? 1),
        'intime.retry_of': call.retryOf ?? null,
      }),
      status: failed ? { code: STATUS_ERROR, message: call.errorCode ?? call.status } : { code: STATUS_UNSET },
    });
  }

  /** An ended run, with its calls: the run's span and one span per step. */
  exportRun(run: RunRecord, chain: RunRecord[], calls: CallRecord[]): void {
    const root = chain.at(-1) ?? run;
    const traceId = hex(`trace:${root.id}`, 32);
    const end = run.endedAt ?? Date.now();
    const cost = calls.reduce((sum, call) => sum + call.cost, 0n);
    this.push({
      traceId,
      spanId: runSpanId(run.id),
      ...(run.parentId ? { parentSpanId: runSpanId(run.parentId) } : {}),
      name: `run ${run.name ?? run.id}`,
      kind: SPAN_KIND_INTERNAL,
      startTimeUnixNano: nanos(run.createdAt),
      endTimeUnixNano: nanos(end),
      attributes: attributes({
        'intime.run.id': run.id,
        'intime.run.name': run.name,
        'intime.run.state': run.state,
        'intime.run.ended_reason': run.endedReason,
        'intime.project': run.project,
        'intime.key.id': run.keyId,
        'intime.cost_usd': toApproximateUsd(cost),
        'intime.waste_usd': toApproximateUsd(wasteOf(calls)),
        'intime.calls': int(calls.length),
        'intime.contract.failed_calls': int(calls.filter((call) => call.contractVerdict === 'failed').length),
        'gen_ai.usage.input_tokens': int(calls.reduce((sum, call) => sum + call.inputTokens + call.cacheReadTokens + call.cacheWriteTokens, 0)),
        'gen_ai.usage.output_tokens': int(calls.reduce((sum, call) => sum + call.outputTokens, 0)),
      }),
      status: run.state === 'completed' || run.state === 'stopped' ? { code: STATUS_UNSET } : { code: STATUS_ERROR, message: run.endedReason ?? run.state },
    });
    const steps = new Map<string, CallRecord[]>();
    for (const call of calls) if (call.step) steps.set(call.step, [...(steps.get(call.step) ?? []), call]);
    for (const [step, stepCalls] of steps) {
      const start = Math.min(...stepCalls.map((call) => call.startedAt));
      const last = stepCalls.reduce((latest, call) => (call.startedAt + call.latencyMs > latest.startedAt + latest.latencyMs ? call : latest));
      this.push({
        traceId,
        spanId: stepSpanId(run.id, step),
        parentSpanId: runSpanId(run.id),
        name: `step ${step}`,
        kind: SPAN_KIND_INTERNAL,
        startTimeUnixNano: nanos(start),
        endTimeUnixNano: nanos(last.startedAt, last.latencyMs),
        attributes: attributes({
          'intime.run.id': run.id,
          'intime.step': step,
          'intime.calls': int(stepCalls.length),
          'intime.cost_usd': toApproximateUsd(stepCalls.reduce((sum, call) => sum + call.cost, 0n)),
          'intime.waste_usd': toApproximateUsd(wasteOf(stepCalls)),
        }),
        status: { code: STATUS_UNSET },
      });
    }
  }

  /**
   * A failed verdict posted after the call's span was sent (the library's own checks): a
   * span under the call's, at the moment of the verdict, carrying it and the waste. Spans
   * are immutable once sent, so the call's own span keeps the verdict it settled with.
   */
  exportVerdict(call: CallRecord, chain: RunRecord[], at = Date.now()): void {
    const root = chain.at(-1);
    this.push({
      traceId: hex(`trace:${root?.id ?? call.id}`, 32),
      spanId: hex(`verdict:${call.id}:${call.contractVerdict ?? 'none'}`, 16),
      parentSpanId: hex(`call:${call.id}`, 16),
      name: `contract verdict ${call.contractName ?? ''}`.trim(),
      kind: SPAN_KIND_INTERNAL,
      startTimeUnixNano: nanos(at),
      endTimeUnixNano: nanos(at),
      attributes: attributes({
        'intime.call.id': call.id,
        'intime.run.id': chain[0]?.id ?? null,
        'intime.project': call.project,
        'intime.step': call.step,
        'intime.cost_usd': toApproximateUsd(call.cost),
        ...contractAttributes(call),
      }),
      status: call.contractVerdict === 'failed' ? { code: STATUS_ERROR, message: call.contractViolation ?? 'contract failed' } : { code: STATUS_UNSET },
    });
  }

  /** Sends what is queued; resolves when the collector answered (or the post failed). */
  flush(): Promise<void> {
    if (this.queue.length === 0) return this.inFlight;
    const spans = this.queue;
    this.queue = [];
    const body = JSON.stringify({
      resourceSpans: [{
        resource: { attributes: attributes({ 'service.name': this.options.serviceName, 'telemetry.sdk.name': 'intime', 'telemetry.sdk.language': 'nodejs' }) },
        scopeSpans: [{ scope: { name: 'intime' }, spans }],
      }],
    });
    const send = fetch(`${this.options.endpoint.replace(/\/$/, '')}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.options.headers },
      body,
      signal: AbortSignal.timeout(5000),
    }).then(
      async (response) => {
        if (!response.ok) this.options.log.warn('otlp export refused', { status: response.status, spans: spans.length });
        await response.body?.cancel();
      },
      (error: Error) => this.options.log.warn('otlp export failed', { error: error.message, spans: spans.length }),
    );
    this.inFlight = this.inFlight.then(() => send);
    return this.inFlight;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private push(span: OtlpSpan): void {
    this.queue.push(span);
    if (this.queue.length >= BATCH) void this.flush();
  }
}

/** The output contract's verdict; its cost is waste when the output failed. */
function contractAttributes(call: CallRecord) {
  const verdict = call.contractVerdict ?? 'none';
  return {
    'intime.contract.verdict': verdict,
    'intime.contract.name': call.contractName ?? null,
    'intime.contract.version': call.contractVersion ? int(call.contractVersion) : null,
    'intime.contract.violation': call.contractViolation ?? null,
    'intime.waste_usd': toApproximateUsd(verdict === 'failed' ? call.cost : 0n),
  };
}

const wasteOf = (calls: CallRecord[]) => calls.reduce((sum, call) => sum + (call.contractVerdict === 'failed' ? call.cost : 0n), 0n);

function hex(seed: string, length: 16 | 32): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

const runSpanId = (runId: string) => hex(`run:${runId}`, 16);
const stepSpanId = (runId: string, step: string) => hex(`step:${runId}:${step}`, 16);

function nanos(epochMs: number, extraMs = 0): string {
  return (BigInt(Math.trunc(epochMs)) * 1_000_000n + BigInt(Math.round(extraMs * 1_000_000))).toString();
}

class IntValue {
  constructor(readonly value: number) {}
}
const int = (value: number) => new IntValue(value);

function attributes(values: Record<string, string | number | boolean | IntValue | null>): { key: string; value: AttributeValue }[] {
  const out: { key: string; value: AttributeValue }[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value === null) continue;
    if (value instanceof IntValue) out.push({ key, value: { intValue: String(value.value) } });
    else if (typeof value === 'string') out.push({ key, value: { stringValue: value } });
    else if (typeof value === 'boolean') out.push({ key, value: { boolValue: value } });
    else out.push({ key, value: { doubleValue: value } });
  }
  return out;
}
