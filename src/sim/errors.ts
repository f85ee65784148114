import type { Protocol } from '../core/tokenizer.js';

/** The failures the simulator answers with, each in the shape its real provider uses. */
export type SimErrorKind = 'invalid_request' | 'model_not_found' | 'not_found' | 'method_not_allowed' | 'too_large' | 'rate_limit' | 'server_error';

export class SimError extends Error {
  constructor(
    readonly kind: SimErrorKind,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

interface ErrorShape {
  status: number;
  openAiType: string;
  openAiCode: string | null;
  anthropicType: string;
}

const SHAPES: Record<SimErrorKind, ErrorShape> = {
  invalid_request: { status: 400, openAiType: 'invalid_request_error', openAiCode: null, anthropicType: 'invalid_request_error' },
  model_not_found: { status: 404, openAiType: 'invalid_request_error', openAiCode: 'model_not_found', anthropicType: 'not_found_error' },
  not_found: { status: 404, openAiType: 'invalid_request_error', openAiCode: 'unknown_url', anthropicType: 'not_found_error' },
  method_not_allowed: { status: 405, openAiType: 'invalid_request_error', openAiCode: null, anthropicType: 'invalid_request_error' },
  too_large: { status: 413, openAiType: 'invalid_request_error', openAiCode: null, anthropicType: 'request_too_large' },
  // OpenAI's own 429s say type "requests" or "tokens"; the code is what clients match on.
  rate_limit: { status: 429, openAiType: 'requests', openAiCode: 'rate_limit_exceeded', anthropicType: 'rate_limit_error' },
  server_error: { status: 500, openAiType: 'server_error', openAiCode: null, anthropicType: 'api_error' },
};

export interface ErrorReply {
  status: number;
  body: string;
}

/** The error body a real provider of this protocol would send. */
export function errorReply(protocol: Protocol | undefined, error: SimError, requestId: string): ErrorReply {
  const shape = SHAPES[error.kind];
  const body =
    protocol === 'anthropic-messages'
      ? { type: 'error', error: { type: shape.anthropicType, message: error.message }, request_id: requestId }
      : { error: { message: error.message, type: shape.openAiType, param: error.param, code: shape.openAiCode } };
  return { status: shape.status, body: JSON.stringify(body) };
}
