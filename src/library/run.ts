import { modelClients, type ModelClients } from './model-call.js';
import { Stage, type StageDefinition, type StageHost } from './stage.js';

/** The control API as an admin sees it; absent for a run joined with its token alone. */
export interface AdminApi {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/**
 * One run, as the library holds it: its token (its provider API key on the gateway), the
 * clients bound to it, and its stages. A run the library created can also be halted,
 * completed and reported on; a joined one (e.g. under `intime run`) only spends.
 */
export class Run implements StageHost {
  readonly clients: ModelClients;

  constructor(
    readonly id: string | undefined,
    readonly token: string,
    readonly gatewayUrl: string,
    private readonly admin: AdminApi | undefined,
    /** The budget the run got (decimal USD; with "auto", the forecast's P90) and that forecast. */
    readonly created: { budgetUsd: string | null; forecast: Record<string, unknown> | null } = { budgetUsd: null, forecast: null },
  ) {
    this.clients = modelClients(gatewayUrl, token);
  }

  stage<Input, Output>(definition: StageDefinition<Input, Output>): Stage<Input, Output> {
    return new Stage(this, definition);
  }

  /** Records the library's verdict on a call, with the run's own token. */
  async postVerdict(callId: string, body: { verdict: 'passed' | 'failed'; contract: string; violation?: string }): Promise<void> {
    const response = await fetch(`${this.gatewayUrl}/api/calls/${encodeURIComponent(callId)}/verdict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`recording the verdict on ${callId} failed: ${response.status} ${await response.text()}`);
  }

  /** Stops the run on the gateway: nothing more of it is spent. False when this library may not. */
  async halt(reason: string): Promise<boolean> {
    if (!this.admin || !this.id) return false;
    await this.admin.request('POST', `/api/runs/${this.id}/stop`, { note: reason.slice(0, 1000) });
    return true;
  }

  async complete(note = 'finished'): Promise<void> {
    await this.requireAdmin('complete').request('POST', `/api/runs/${this.id}/complete`, { note });
  }

  /** The run as the gateway sees it: state, spent, wasted, calls. */
  async status(): Promise<{ state: string; spentUsd: string; wastedUsd: string; calls: number; endedReason: string | null }> {
    return this.requireAdmin('read its status').request('GET', `/api/runs/${this.id}`);
  }

  /** Waste of this run, grouped by stage (or model or day). */
  async waste(by: 'stage' | 'model' | 'day' = 'stage'): Promise<{ rows: { group: string | null; costUsd: string; wastedUsd: string; calls: number; failedCalls: number; retries: number }[]; total: { costUsd: string; wastedUsd: string } }> {
    return this.requireAdmin('read its waste').request('GET', `/api/waste?by=${by}&run=${encodeURIComponent(this.id!)}`);
  }

  private requireAdmin(what: string): AdminApi {
    if (!this.admin || !this.id) throw new Error(`a run joined with its token alone cannot ${what}: connect with an admin token`);
    return this.admin;
  }
}
