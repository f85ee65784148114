import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { toApproximateUsd } from '../core/money.js';
import { remainingOf } from '../core/budget.js';
import type { CallRecord } from '../stores/ledger.js';
import type { Gateway } from './gateway.js';

interface CallSeries {
  labels: { model: string; provider: string; project: string };
  spend: Counter.Internal;
  calls: Map<string, Counter.Internal>;
  input: Counter.Internal;
  cacheRead: Counter.Internal;
  cacheWrite: Counter.Internal;
  output: Counter.Internal;
  waste: Counter.Internal;
}

/**
 * Prometheus metrics (prom-client: a well-kept registry and text encoder, so the format
 * is right by construction). Counters move as calls settle; budget and reservation gauges
 * are read from the budget book and the ledger at scrape time.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly spend: Counter;
  private readonly tokens: Counter;
  private readonly calls: Counter;
  private readonly waste: Counter;
  private readonly stopLatency: Histogram;
  private readonly overhead: Histogram;
  private readonly series = new Map<string, CallSeries>();

  constructor(gateway: () => Gateway) {
    const registers = [this.registry];
    const byCall = ['model', 'provider', 'project'] as const;
    this.spend = new Counter({ name: 'intime_spend_usd_total', help: 'Spend priced by the gateway, USD', labelNames: byCall, registers });
    this.tokens = new Counter({ name: 'intime_tokens_total', help: 'Tokens metered, by kind (input, cache_read, cache_write, output)', labelNames: [...byCall, 'kind'], registers });
    this.calls = new Counter({ name: 'intime_calls_total', help: 'Model calls settled, by outcome', labelNames: [...byCall, 'status'], registers });
    this.waste = new Counter({ name: 'intime_waste_usd_total', help: 'Spend on calls whose contract verdict failed (silent burns), USD', labelNames: byCall, registers });
    this.stopLatency = new Histogram({
      name: 'intime_stop_latency_seconds', help: 'From a stop request to the last of the run\'s cut calls having sent its agent the error (this replica)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers,
    });
    this.overhead = new Histogram({
      name: 'intime_gateway_overhead_seconds', help: 'Time the gateway adds before forwarding a call (parse, price, count, reserve)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1], registers,
    });
    new Gauge({
      name: 'intime_budget_remaining_usd', help: 'Money left in each key or project budget\'s current window, USD',
      labelNames: ['scope', 'window'], registers,
      async collect() {
        this.reset();
        const keeper = gateway().budgets;
        for (const budget of keeper.listBudgets()) {
          // With Redis, the shared counter; while it is away, what this replica last saw.
          const remaining = await keeper.store.remaining(budget.scope, keeper.now())
            .catch(() => { const seen = keeper.store.lastKnown(budget.scope, keeper.now()); return seen ? remainingOf(seen) : undefined; });
          if (remaining?.money != null) this.set({ scope: budget.scope, window: budget.window }, toApproximateUsd(remaining.money));
        }
      },
    });
    const reservations = () => gateway().ledger.listReservations();
    new Gauge({
      name: 'intime_reservations_held', help: 'Calls admitted whose worst case is still reserved', labelNames: byCall, registers,
      async collect() {
        this.reset();
        for (const held of await reservations()) this.inc({ model: held.model, provider: held.provider, project: held.project ?? '' });
      },
    });
    new Gauge({
      name: 'intime_reserved_usd', help: 'Worst-case money reserved by calls in flight, USD', labelNames: byCall, registers,
      async collect() {
        this.reset();
        for (const held of await reservations()) this.inc({ model: held.model, provider: held.provider, project: held.project ?? '' }, toApproximateUsd(held.reserved));
      },
    });
  }

  observeCall(call: CallRecord): void {
    const series = this.seriesOf(call);
    const usd = toApproximateUsd(call.cost);
    series.spend.inc(usd);
    let calls = series.calls.get(call.status);
    if (!calls) series.calls.set(call.status, (calls = this.calls.labels({ ...series.labels, status: call.status })));
    calls.inc();
    series.input.inc(call.inputTokens);
    series.cacheRead.inc(call.cacheReadTokens);
    series.cacheWrite.inc(call.cacheWriteTokens);
    series.output.inc(call.outputTokens);
    // Verdicts the gateway judges are in the record it settles; touching the series at 0
    // otherwise makes it show before any contract failed.
    series.waste.inc(call.contractVerdict === 'failed' ? usd : 0);
  }

  /**
   * A call's counters, looked up once per model, provider and project: prom-client checks
   * and hashes a label set on every inc, 2 µs each, seven times a call.
   */
  private seriesOf(call: CallRecord): CallSeries {
    const labels = { model: call.model, provider: call.provider, project: call.project ?? '' };
    const key = `${labels.model}\u0000${labels.provider}\u0000${labels.project}`;
    let series = this.series.get(key);
    if (!series) {
      series = {
        labels,
        spend: this.spend.labels(labels),
        calls: new Map(),
        input: this.tokens.labels({ ...labels, kind: 'input' }),
        cacheRead: this.tokens.labels({ ...labels, kind: 'cache_read' }),
        cacheWrite: this.tokens.labels({ ...labels, kind: 'cache_write' }),
        output: this.tokens.labels({ ...labels, kind: 'output' }),
        waste: this.waste.labels(labels),
      };
      this.series.set(key, series);
    }
    return series;
  }

  /**
   * A failed verdict that arrived after the call settled (the library's own checks, posted
   * to /api/calls/:id/verdict): its cost becomes waste now. Called once per call, on its
   * first failure; a failure is never undone, so the counter never has to go back.
   */
  observeLateFailure(call: CallRecord): void {
    this.waste.inc({ model: call.model, provider: call.provider, project: call.project ?? '' }, toApproximateUsd(call.cost));
  }

  observeStop(seconds: number): void {
    this.stopLatency.observe(seconds);
  }

  observeOverhead(seconds: number): void {
    this.overhead.observe(seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
