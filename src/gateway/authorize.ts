import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../protocols/errors.js';
import type { Role } from '../stores/ledger.js';
import type { Gateway } from './gateway.js';
import { presentedToken } from './identity.js';
import { hashToken, tokensMatch } from './secrets.js';

/**
 * Who is using the control API. The root admin token (INTIME_ADMIN_TOKEN or the generated
 * one) is an admin of everything; other principals are created by an admin with a role
 * and the projects it covers. Run tokens and virtual keys are agents: never principals.
 */
export interface Principal {
  id: string;
  name: string;
  role: Role;
  /** Projects this principal may see and act on; null means all. */
  projects: string[] | null;
}

export const ROOT: Principal = { id: 'root', name: 'admin', role: 'admin', projects: null };

export async function authenticate(gateway: Gateway, request: IncomingMessage): Promise<Principal> {
  const token = presentedToken(request);
  if (!token) throw new GatewayError('invalid_api_key', 'authentication', 'the control API needs a token (Authorization: Bearer …)', { retryable: false });
  if (tokensMatch(token, gateway.adminToken)) return ROOT;
  if (token.startsWith('it_run_') || token.startsWith('it_key_')) {
    throw new GatewayError('permission_denied', 'permission', 'agent tokens may not use the control API', { retryable: false });
  }
  const principal = await gateway.ledger.findPrincipal(hashToken(token));
  if (!principal || principal.revokedAt !== null) {
    throw new GatewayError('invalid_api_key', 'authentication', 'this token may not use the control API', { retryable: false });
  }
  return { id: principal.id, name: principal.name, role: principal.role, projects: principal.projects };
}

export function canSee(principal: Principal, project: string | null): boolean {
  return principal.projects === null || (project !== null && principal.projects.includes(project));
}

/** Stop, pause, resume, approve, deny: admins, and operators of the run's project. */
export function requireAct(principal: Principal, project: string | null, what: string): void {
  if (principal.role === 'viewer') throw forbidden(`a viewer may not ${what}`);
  if (!canSee(principal, project)) throw forbidden(`${principal.name} may not ${what} outside its projects`);
}

export function requireSee(principal: Principal, project: string | null, what: string): void {
  if (!canSee(principal, project)) throw forbidden(`${principal.name} may not see ${what}`);
}

/** Keys, budgets, principals, policies: admins only. */
export function requireAdmin(principal: Principal, what: string): void {
  if (principal.role !== 'admin' || principal.projects !== null) throw forbidden(`only an admin may ${what}`);
}

function forbidden(message: string): GatewayError {
  return new GatewayError('permission_denied', 'permission', message, { retryable: false });
}
