import type { EffectivePolicy } from '../core/tool-policy.js';
import type { ToolCallSeen } from '../protocols/tool-calls.js';
import type { ApprovalRecord } from '../stores/approvals.js';
import type { ApprovalRegistry } from './approvals.js';
import type { CallContext } from './settle.js';

/** How a hold ended. */
export type HoldOutcome =
  /** Every gated tool call was decided: release the answer, without the `denied` ones (by key). */
  | { kind: 'release'; denied: ReadonlySet<string>; text: string }
  /** A denial under `onDeny: stop` stopped the run: the agent gets run_stopped. */
  | { kind: 'stopped' }
  /** The call ended first (the agent left, or its run was stopped, paused out or exhausted). */
  | { kind: 'ended' };

/**
 * The approval gate of one call whose policy gates some tools. The relays ask it which
 * tool names are gated (cheap), and hand it the answer's tool calls once the answer is
 * complete; it opens one approval per gated call and waits for all of them.
 */
export class CallGate {
  constructor(
    private readonly registry: ApprovalRegistry,
    private readonly call: CallContext,
    private readonly runIds: string[],
    readonly policy: EffectivePolicy,
    private readonly stopRun: (runId: string, reason: string) => Promise<void>,
  ) {}

  isGated(toolName: string): boolean {
    return this.policy.isGated(toolName);
  }

  /**
   * Holds until every gated tool call is decided, or the call ends (`signal`). The
   * reservation stays held meanwhile: the caller settles after this returns.
   */
  async hold(toolCalls: ToolCallSeen[], signal: AbortSignal, endedBecause: () => string | undefined): Promise<HoldOutcome> {
    const gated = toolCalls.filter((toolCall) => this.isGated(toolCall.name));
    if (gated.length === 0) return { kind: 'release', denied: new Set(), text: '' };
    if (signal.aborted) return { kind: 'ended' };
    const runId = this.runIds[0] ?? null;
    const opened: { key: string; record: ApprovalRecord; decision: Promise<ApprovalRecord> }[] = [];
    for (const toolCall of gated) {
      const { record, decision } = await this.registry.open({
        runId, callId: this.call.id, toolCallId: toolCall.id, tool: toolCall.name, arguments: toolCall.arguments,
        protocol: this.call.request.protocol, model: this.call.request.model,
      }, this.policy.timeoutMs, this.policy.webhook);
      opened.push({ key: toolCall.key, record, decision });
    }
    const abandonRest = (note: string) => Promise.all(opened.map(({ record }) => this.registry.abandon(record.id, note)));

    const outcome = await new Promise<HoldOutcome | { kind: 'stop'; denial: ApprovalRecord }>((resolve) => {
      let done = false;
      const finish = (result: HoldOutcome | { kind: 'stop'; denial: ApprovalRecord }) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const onAbort = () => finish({ kind: 'ended' });
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) return onAbort();
      const denials: { key: string; record: ApprovalRecord }[] = [];
      let undecided = opened.length;
      for (const { key, decision } of opened) {
        void decision.then((record) => {
          if (record.state !== 'approved') {
            denials.push({ key, record });
            // Under `stop`, the first denial ends the run; the other decisions no longer matter.
            // A call made with a virtual key has no run to stop: its denial strips instead.
            if (this.policy.onDeny === 'stop' && runId !== null && record.state !== 'abandoned') return finish({ kind: 'stop', denial: record });
          }
          if (--undecided === 0) {
            finish({ kind: 'release', denied: new Set(denials.map((denial) => denial.key)), text: denialText(denials.map((denial) => denial.record)) });
          }
        });
      }
    });

    if (outcome.kind === 'ended') {
      await abandonRest(endedBecause() ?? 'the agent disconnected while the call was held');
      return outcome;
    }
    if (outcome.kind === 'stop') {
      const { denial } = outcome;
      await abandonRest(`run stopped after ${denial.tool} was denied`);
      await this.stopRun(runId!, `approval denied: ${denial.tool}${denial.note ? `: ${denial.note}` : ''}`);
      return { kind: 'stopped' };
    }
    return outcome;
  }
}

/** What the agent's model reads instead of the tool call: short, and says why. */
export function denialText(denials: ApprovalRecord[]): string {
  return denials.map((denial) => {
    const why = denial.state === 'timed_out'
      ? `it was denied: ${denial.note ?? 'nobody decided in time'}`
      : denial.state === 'abandoned'
        ? `it was withdrawn: ${denial.note ?? 'the call ended'}`
        : `it was denied by ${denial.decidedBy ?? 'an operator'}${denial.note ? `: ${denial.note}` : ''}`;
    return `InTime held the call to the tool "${denial.tool}" for approval, and ${why}. The tool was not called.`;
  }).join('\n');
}
