/**
 * One error family for everything the gateway refuses or fails, with a stable code.
 * Each protocol adapter renders it in its provider's own shape, so the official SDKs
 * raise their usual error classes and agents can match on `code`.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_json'
  | 'too_deeply_nested'
  | 'missing_model'
  | 'request_too_large'
  | 'invalid_api_key'
  | 'permission_denied'
  | 'not_found'
  | 'contract_not_found'
  | 'model_not_priced'
  | 'provider_not_configured'
  | 'protocol_not_supported'
  | 'upstream_unreachable'
  | 'upstream_disconnected'
  | 'upstream_malformed_response'
  | 'upstream_timeout'
  | 'client_closed'
  | 'ledger_unavailable'
  | 'budget_store_unavailable'
  | 'budget_exhausted'
  | 'tokens_exhausted'
  | 'calls_exhausted'
  | 'deadline_exceeded'
  | 'run_ended'
  | 'run_stopped'
  | 'run_paused_timeout'
  | 'internal_error';

/** The kind of failure, which picks the provider's error type (and class in its SDK). */
export type ErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'too_large'
  | 'upstream'
  | 'internal'
  /** The clock said no: a budget, a deadline. Never retryable, and answered with a status SDKs do not retry. */
  | 'budget';

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  invalid_request: 400,
  authentication: 401,
  permission: 403,
  not_found: 404,
  too_large: 413,
  upstream: 502,
  internal: 500,
  budget: 402,
};

export class GatewayError extends Error {
  readonly status: number;
  /** False for causes a retry cannot fix; the response then says `x-should-retry: false`. */
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    readonly kind: ErrorKind,
    message: string,
    options: { status?: number; retryable?: boolean; param?: string } = {},
  ) {
    super(message);
    this.status = options.status ?? STATUS_BY_KIND[kind];
    this.retryable = kind === 'budget' ? false : options.retryable ?? (kind === 'upstream' || kind === 'internal');
    this.param = options.param;
  }

  readonly param: string | undefined;
}

export function notFound(what: string): GatewayError {
  return new GatewayError('not_found', 'not_found', `${what} not found`, { retryable: false });
}

export function invalidRequest(message: string, param?: string): GatewayError {
  return new GatewayError('invalid_request', 'invalid_request', message, { param });
}

/** Anything that is not a GatewayError becomes an internal error without leaking details. */
export function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError('internal_error', 'internal', 'internal gateway error');
}
