import { toJSONSchema, type ZodType } from 'zod';
import { validateAgainst } from '../contracts/validator.js';

export type JsonSchema = Record<string, unknown>;

/**
 * A named check over a stage's output and the input it was made from: true passes;
 * false, a string (the reason) or a thrown error fails. May be async (look something up).
 */
export type Check<Output, Input> = (output: Output, input: Input) => boolean | string | Promise<boolean | string>;

export interface ContractDefinition<Output, Input> {
  /** Recorded on every call it judges; also the Structured Outputs / tool name on the wire. */
  name: string;
  /** A zod (v4) schema, or a JSON Schema object. */
  schema: ZodType<Output> | JsonSchema;
  checks?: Record<string, Check<Output, Input>>;
  description?: string;
}

/** Why an output was refused, in words the model can be given back. */
export interface Violation {
  kind: 'no-output' | 'parse' | 'schema' | 'check';
  message: string;
  /** Names of the checks that failed (kind "check"). */
  failedChecks: string[];
}

export type Verification<Output> = { ok: true; output: Output } | { ok: false; violation: Violation };

export interface Contract<Output, Input> {
  readonly name: string;
  readonly description: string | undefined;
  /** The schema as JSON Schema, for the provider's structured output and the gateway's validator. */
  readonly jsonSchema: JsonSchema;
  /** Parses, validates and checks an output: the whole contract, in that order. */
  verify(output: string | Record<string, unknown> | undefined, input: Input, options?: { truncated?: boolean }): Promise<Verification<Output>>;
}

const NAME = /^[A-Za-z0-9._:\/-]{1,64}$/;

export function defineContract<Output, Input = unknown>(definition: ContractDefinition<Output, Input>): Contract<Output, Input> {
  if (!NAME.test(definition.name)) throw new TypeError(`contract name "${definition.name}" must be 1-64 letters, digits or ._:/-`);
  const zod = isZod(definition.schema) ? (definition.schema as ZodType<Output>) : undefined;
  const jsonSchema = zod ? wireSchema(toJSONSchema(zod) as JsonSchema) : (definition.schema as JsonSchema);
  const checks = Object.entries(definition.checks ?? {});
  const fail = (kind: Violation['kind'], message: string, failedChecks: string[] = []): Verification<Output> => ({ ok: false, violation: { kind, message, failedChecks } });

  return {
    name: definition.name,
    description: definition.description,
    jsonSchema,
    async verify(raw, input, options = {}) {
      const cut = options.truncated ? ' (the output was cut off at the token limit)' : '';
      if (raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return fail('no-output', `there was no output${cut}`);
      let value: unknown = raw;
      if (typeof raw === 'string') {
        try {
          value = JSON.parse(raw);
        } catch (error) {
          return fail('parse', `the output is not valid JSON${cut || `: ${(error as Error).message}`}`);
        }
      }
      let output: Output;
      if (zod) {
        const parsed = zod.safeParse(value);
        if (!parsed.success) return fail('schema', parsed.error.issues.slice(0, 3).map((issue) => `/${issue.path.join('/')} ${issue.message}`).join('; '));
        output = parsed.data;
      } else {
        const check = validateAgainst(jsonSchema, value);
        if (check.valid !== true) return fail('schema', check.violation);
        output = value as Output;
      }
      const failures: string[] = [];
      const failedNames: string[] = [];
      for (const [name, check] of checks) {
        let result: boolean | string;
        try {
          result = await check(output, input);
        } catch (error) {
          result = `threw ${(error as Error).message}`;
        }
        if (result === true) continue;
        failedNames.push(name);
        failures.push(typeof result === 'string' ? `${name}: ${result}` : name);
      }
      if (failures.length > 0) return fail('check', `failed check${failures.length > 1 ? 's' : ''}: ${failures.join('; ')}`, failedNames);
      return { ok: true, output };
    },
  };
}

function isZod(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && '_zod' in schema && typeof (schema as { safeParse?: unknown }).safeParse === 'function';
}

/** Providers' structured outputs take a plain schema; the meta-schema line is not part of it. */
function wireSchema(schema: JsonSchema): JsonSchema {
  const { $schema: _metaSchema, ...rest } = schema;
  return rest;
}
