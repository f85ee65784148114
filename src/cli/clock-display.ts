import type { runView } from '../gateway/views.js';
import { displayUsd, parseUsd } from '../core/money.js';

type RunView = ReturnType<typeof runView> & { lastModel?: string | null };

/**
 * The live clock of `intime run` on stderr: spent / remaining, tokens, calls, burn rate,
 * projected time to zero, current model. On a terminal it redraws one line; otherwise it
 * prints a line every few seconds so logs stay readable.
 */
export class ClockDisplay {
  private readonly samples: { at: number; spent: bigint }[] = [];
  private lastPrinted = 0;
  private lastLine = '';

  constructor(private readonly stream: NodeJS.WriteStream, private readonly runId: string) {}

  update(view: RunView): void {
    const now = Date.now();
    const spent = parseUsd(view.spentUsd);
    this.samples.push({ at: now, spent });
    while (this.samples.length > 2 && now - this.samples[0]!.at > 30_000) this.samples.shift();
    const line = this.format(view, spent, now);
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.lastLine = line;
    } else if (now - this.lastPrinted >= 3000) {
      this.stream.write(`${line}\n`);
      this.lastPrinted = now;
    }
  }

  note(message: string): void {
    this.stream.write(`${this.stream.isTTY && this.lastLine ? '\n' : ''}intime run: ${message}\n`);
    this.lastLine = '';
  }

  finish(): void {
    if (this.stream.isTTY && this.lastLine) this.stream.write('\n');
  }

  /** USD per second over the last 30 s of samples. */
  burnRate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at === first.at) return 0;
    return Number(last.spent - first.spent) / 1e12 / ((last.at - first.at) / 1000);
  }

  private format(view: RunView, spent: bigint, now: number): string {
    const burn = this.burnRate();
    const remaining = view.remainingUsd === null ? null : parseUsd(view.remainingUsd);
    const toZero = remaining !== null && burn > 0 ? Number(remaining) / 1e12 / burn : null;
    const deadline = view.deadline ? Math.max(0, Date.parse(view.deadline) - now) / 1000 : null;
    const parts = [
      `[${this.runId}] ${displayUsd(spent)}${remaining !== null ? ` spent, ${displayUsd(remaining)} left` : ' spent'}`,
      `${view.inputTokens + view.cacheReadTokens + view.cacheWriteTokens + view.outputTokens} tok`,
      `${view.calls} calls`,
      `burn ${burn > 0 ? `$${burn.toFixed(burn < 0.01 ? 5 : 3)}/s` : '-'}`,
      `zero in ${toZero === null ? '-' : formatSeconds(toZero)}`,
    ];
    if (deadline !== null) parts.push(`deadline in ${formatSeconds(deadline)}`);
    if (view.lastModel) parts.push(view.lastModel);
    return parts.join(' | ');
  }
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 90) return `${seconds.toFixed(0)}s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}
