import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../../protocols/errors.js';
import type { Principal } from '../authorize.js';
import { requireAdmin } from '../authorize.js';
import type { Gateway } from '../gateway.js';
import { parseJsonObject, readBody, sendJson } from '../http.js';
import { AUTO_PREFIX, type RoutingPolicy } from './registry.js';

/**
 * /api/routing-policies: list, show (with the learned order and statistics), define
 * (PUT, admins) and delete (API-defined ones) routing policies. Returns false for other paths.
 */
export async function handleRoutingApi(gateway: Gateway, request: IncomingMessage, response: ServerResponse, url: URL, principal: Principal): Promise<boolean> {
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts[1] !== 'routing-policies' || parts.length > 3) return false;
  const name = parts[2] === undefined ? undefined : decodeURIComponent(parts[2]);
  const method = request.method ?? 'GET';
  const registry = gateway.routing;
  if (name === undefined) {
    if (method !== 'GET') throw methodNotAllowed();
    sendJson(response, 200, { policies: registry.list().map((policy) => view(gateway, policy, policy.name)) });
    return true;
  }
  switch (method) {
    case 'GET': {
      const policy = registry.get(name);
      if (!policy) throw notFound(name);
      sendJson(response, 200, view(gateway, policy, url.searchParams.get('stage') ?? name));
      return true;
    }
    case 'PUT': {
      requireAdmin(principal, 'define routing policies');
      if (registry.get(name)?.source === 'config') throw new GatewayError('invalid_request', 'invalid_request', `routing policy ${name} comes from the config file; change it there`, { retryable: false });
      const policy = registry.put(name, parseJsonObject(await readBody(request, gateway.config.maxBodyBytes)));
      await gateway.audit.record({ actor: principal.name, role: principal.role, action: 'routing_policy.put', runId: null, target: name, note: policy.candidates.join(',') });
      sendJson(response, 200, view(gateway, policy, name));
      return true;
    }
    case 'DELETE': {
      requireAdmin(principal, 'delete routing policies');
      if (!registry.delete(name)) throw notFound(name, 'or it comes from the config file');
      await gateway.audit.record({ actor: principal.name, role: principal.role, action: 'routing_policy.delete', runId: null, target: name });
      sendJson(response, 200, { deleted: name });
      return true;
    }
    default:
      throw methodNotAllowed();
  }
}

function view(gateway: Gateway, policy: RoutingPolicy, stage: string) {
  const order = gateway.routing.currentOrder(policy, stage);
  return {
    name: policy.name,
    model: `${AUTO_PREFIX}${policy.name}`,
    candidates: policy.candidates,
    qualityTarget: policy.qualityTarget,
    explorationShare: policy.explorationShare,
    source: policy.source,
    stage,
    order: order.order,
    expectedCostUsd: order.costUsd,
    expectedPassRate: order.passRate,
    stats: gateway.routing.statsView(policy, stage),
  };
}

function notFound(name: string, more = ''): GatewayError {
  return new GatewayError('not_found', 'not_found', `no routing policy "${name}"${more ? ` ${more}` : ''}`, { retryable: false });
}

function methodNotAllowed(): GatewayError {
  return new GatewayError('invalid_request', 'invalid_request', 'routing policies accept GET, PUT and DELETE', { status: 405, retryable: false });
}
