import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/**
 * JSON Schema validation with Ajv: a maintained, standards-conformant validator that
 * compiles each schema to a function once. Schemas arrive with every request that
 * carries one, so compiled validators are kept by the schema's text.
 */
const options = { allErrors: true, strict: false, validateFormats: true };
/** Draft-07 (what most tool and Structured Outputs schemas are written in), and 2020-12 for schemas that say so (zod 4 emits it). */
const draft07 = new Ajv(options);
const draft2020 = new Ajv2020(options);
// ajv-formats is CommonJS; under NodeNext its default export is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (instance: Ajv) => void;
addFormats(draft07);
addFormats(draft2020);

const CACHE_LIMIT = 512;
const compiled = new Map<string, ValidateFunction | Error>();

export type SchemaCheck = { valid: true } | { valid: false; violation: string };

/** Validates a value; a schema Ajv cannot compile is reported as such, never as the output's fault. */
export function validateAgainst(schema: unknown, value: unknown): SchemaCheck | { valid: 'unusable'; violation: string } {
  const validate = validatorFor(schema);
  if (validate instanceof Error) return { valid: 'unusable', violation: `the schema could not be used: ${validate.message}` };
  if (validate(value)) return { valid: true };
  return { valid: false, violation: summarizeErrors(validate.errors ?? []) };
}

function validatorFor(schema: unknown): ValidateFunction | Error {
  const key = typeof schema === 'string' ? schema : JSON.stringify(schema);
  let validate = compiled.get(key);
  if (validate === undefined) {
    try {
      const parsed = (typeof schema === 'string' ? JSON.parse(schema) : schema) as Record<string, unknown>;
      const ajv = typeof parsed.$schema === 'string' && parsed.$schema.includes('2020-12') ? draft2020 : draft07;
      validate = ajv.compile(parsed);
    } catch (error) {
      validate = error as Error;
    }
    if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, validate);
  }
  return validate;
}

const MAX_LISTED_ERRORS = 3;

/** "/total must be integer; / must have required property 'lines' (+2 more)". */
export function summarizeErrors(errors: ErrorObject[]): string {
  const listed = errors.slice(0, MAX_LISTED_ERRORS).map((error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`);
  const more = errors.length > MAX_LISTED_ERRORS ? ` (+${errors.length - MAX_LISTED_ERRORS} more)` : '';
  return `${listed.join('; ')}${more}`;
}
