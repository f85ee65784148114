import type { ErrorKind, GatewayError } from './errors.js';

const OPENAI_TYPE: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'invalid_request_error',
  too_large: 'invalid_request_error',
  upstream: 'upstream_error',
  internal: 'server_error',
  budget: 'budget_error',
};

/** OpenAI's error shape: {error: {message, type, param, code}}. */
export function openAiErrorBody(error: GatewayError): Record<string, unknown> {
  return {
    error: {
      message: error.message,
      type: error.kind === 'budget' ? error.code : OPENAI_TYPE[error.kind],
      param: error.param ?? null,
      code: error.code,
    },
  };
}
