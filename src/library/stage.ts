import { formatUsd, type Money } from '../core/money.js';
import type { Contract, Violation } from './contract.js';
import { ContractViolationError, type AttemptRecord } from './errors.js';
import { callForStructuredOutput, targetOf, type ModelChoice, type ModelClients, type Turn } from './model-call.js';

/** What to do when an output breaks its contract. Attempts run in order; the first that passes wins. */
export interface ViolationPolicy {
  /** Further tries on the same model, each told what was wrong with the last. Default 1. */
  retries?: number;
  /** After a model's tries are spent, move to the next model of the list. Default true. */
  escalate?: boolean;
  /** When every try failed, stop the run on the gateway too (needs a run this library created). Default true. */
  haltRun?: boolean;
}

export interface AttemptContext<Input> {
  stage: string;
  input: Input;
  attempt: number;
  model: string;
  /** 0 for the first model of the list, 1 after one escalation … */
  modelIndex: number;
  /** 0 for a model's first try, then 1, 2 … for its retries. */
  retry: number;
}

export interface StageDefinition<Input, Output> {
  /** The step label on every call (x-intime-step), and the stage's name in waste reports. */
  name: string;
  contract: Contract<Output, Input>;
  /**
   * Models in escalation order: cheapest first. "claude-*" use the Messages API, the rest
   * Chat Completions. `intime/auto:<policy>` hands the choice to the gateway's router: it
   * tries the policy's candidates in the cascade it learned, escalating on a failed schema
   * before the answer comes back, and learns from the checks' verdicts this stage posts.
   */
  models: ModelChoice[];
  prompt: (input: Input) => string;
  system?: string;
  /** Output cap per attempt. Default 1024. */
  maxTokens?: number;
  policy?: ViolationPolicy;
  /**
   * Known pitfalls: true has the gateway add the precedents recorded at this step (earlier
   * failures and their fixes) to each attempt's instructions; false keeps them out even where
   * the gateway's configuration would inject. Unset: the gateway's configuration decides.
   * Their tokens are part of the attempt's prompt and cost; `attempts[].precedents` says which.
   */
  precedents?: boolean;
  /** Extra headers for an attempt (e.g. the simulator's x-sim-* directives). */
  headers?: (attempt: AttemptContext<Input>) => Record<string, string> | undefined;
}

export interface StageResult<Output> {
  output: Output;
  attempts: AttemptRecord[];
  cost: Money;
  /** Cost of the attempts that failed before one passed. */
  wasted: Money;
}

/** What a stage needs of its run: the clients bound to its token, a way to report verdicts, a way to halt. */
export interface StageHost {
  clients: ModelClients;
  postVerdict(callId: string, body: { verdict: 'passed' | 'failed'; contract: string; violation?: string }): Promise<void>;
  halt(reason: string): Promise<boolean>;
}

export class Stage<Input, Output> {
  constructor(private readonly host: StageHost, readonly definition: StageDefinition<Input, Output>) {
    if (definition.models.length === 0) throw new TypeError(`stage "${definition.name}" needs at least one model`);
  }

  /** The verified output; throws ContractViolationError when no attempt passed. */
  async run(input: Input): Promise<Output> {
    return (await this.execute(input)).output;
  }

  /** The verified output with every attempt and its cost. */
  async execute(input: Input): Promise<StageResult<Output>> {
    const { name, contract, models, policy = {} } = this.definition;
    const retries = Math.max(0, policy.retries ?? 1);
    const attempts: AttemptRecord[] = [];
    let lastViolation: Violation | undefined;
    let previousCallId: string | undefined;
    const prompt = this.definition.prompt(input);
    for (const [modelIndex, choice] of models.entries()) {
      if (modelIndex > 0 && policy.escalate === false) break;
      const target = targetOf(choice);
      // A model escalated to starts from the prompt: the violation was the other model's.
      let turns: Turn[] = [{ role: 'user', content: prompt }];
      for (let retry = 0; retry <= retries; retry++) {
        const attempt = attempts.length + 1;
        const context: AttemptContext<Input> = { stage: name, input, attempt, model: target.model, modelIndex, retry };
        const answer = await callForStructuredOutput(this.host.clients, {
          target,
          system: this.definition.system,
          turns,
          contractName: contract.name,
          schema: contract.jsonSchema,
          maxTokens: this.definition.maxTokens ?? 1024,
          headers: {
            'x-intime-step': name,
            'x-intime-attempt': String(attempt),
            ...(previousCallId ? { 'x-intime-retry-of': previousCallId } : {}),
            ...(this.definition.precedents === undefined ? {} : { 'x-intime-precedents': this.definition.precedents ? 'on' : 'off' }),
            ...this.definition.headers?.(context),
          },
        });
        const verification = await contract.verify(answer.raw, input, { truncated: answer.truncated });
        const verdict = verification.ok ? 'passed' : 'failed';
        // The gateway saw the schema; only the library saw the checks. The ledger gets the whole verdict.
        if (verdict !== answer.gatewayVerdict) {
          await this.host.postVerdict(answer.callId, {
            verdict, contract: contract.name, ...(verification.ok ? {} : { violation: verification.violation.message }),
          });
        }
        // A routed call's cost includes the cascade's failed attempts: waste, like a failed try here.
        attempts.push({
          attempt, model: answer.model, callId: answer.callId, cost: answer.spent, costUsd: formatUsd(answer.spent),
          verdict, violation: verification.ok ? null : verification.violation,
          precedents: answer.precedents, precedentTokens: answer.precedentTokens,
        });
        if (verification.ok) {
          const cost = attempts.reduce((sum, entry) => sum + entry.cost, 0n);
          return { output: verification.output, attempts, cost, wasted: cost - answer.cost };
        }
        lastViolation = verification.violation;
        previousCallId = answer.callId;
        turns = [...turns, { role: 'assistant', content: answer.text || '(no output)' }, { role: 'user', content: feedback(contract.name, verification.violation) }];
      }
    }
    const halted = policy.haltRun === false ? false : await this.host.halt(`stage ${name} failed contract ${contract.name}: ${lastViolation!.message}`);
    throw new ContractViolationError(name, contract.name, lastViolation!, attempts, halted);
  }
}

function feedback(contractName: string, violation: Violation): string {
  return `Your previous answer broke the output contract "${contractName}": ${violation.message}. ` +
    'Answer again with only the corrected JSON, satisfying the schema and every check.';
}
