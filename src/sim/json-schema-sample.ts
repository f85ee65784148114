import { SeededRandom } from './seeded-random.js';
import { plainWords } from './vocabulary.js';

/**
 * A deterministic value that is valid against a JSON Schema, for simulated structured
 * outputs and tool arguments. Covers what Structured Outputs and tool schemas use in
 * practice: object/properties/required, array/items/prefixItems/min/maxItems, string
 * (enum, const, min/maxLength, common formats), number/integer (bounds, multipleOf),
 * boolean, null, anyOf/oneOf (first non-null branch), allOf (merged), local $ref.
 * Not covered: `pattern`, `not`, if/then/else, dependent schemas.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type Schema = Record<string, unknown>;

/** Past this depth recursive schemas stop growing: optional fields and items are left out. */
const MAX_DEPTH = 6;
const HARD_DEPTH_LIMIT = 32;

export function sampleFromSchema(schema: unknown, seed: number): JsonValue {
  const root = asSchema(schema);
  return new SchemaSampler(root, new SeededRandom(seed)).sample(root, 0);
}

class SchemaSampler {
  constructor(
    private readonly root: Schema,
    private readonly random: SeededRandom,
  ) {}

  sample(input: Schema, depth: number): JsonValue {
    // A schema whose required fields recurse forever has no finite instance; stop anyway.
    if (depth > HARD_DEPTH_LIMIT) return null;
    const schema = this.resolve(input);
    if ('const' in schema) return schema.const as JsonValue;
    if (Array.isArray(schema.enum) && schema.enum.length > 0) return this.random.pick(schema.enum) as JsonValue;
    const branches = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined;
    if (branches && branches.length > 0) {
      const chosen = branches.map(asSchema).find((branch) => branch.type !== 'null') ?? asSchema(branches[0]);
      return this.sample({ ...withoutKeys(schema, ['anyOf', 'oneOf']), ...chosen }, depth);
    }
    switch (typeOf(schema)) {
      case 'object':
        return this.object(schema, depth);
      case 'array':
        return this.array(schema, depth);
      case 'string':
        return this.string(schema);
      case 'integer':
        return this.number(schema, true);
      case 'number':
        return this.number(schema, false);
      case 'boolean':
        return this.random.next() < 0.5;
      case 'null':
        return null;
      default:
        return plainWords(this.random, 2);
    }
  }

  /** Follows $ref and merges allOf, so the rest sees one flat schema. */
  private resolve(schema: Schema): Schema {
    let current = schema;
    for (let hops = 0; typeof current.$ref === 'string' && hops < 32; hops++) {
      current = { ...withoutKeys(current, ['$ref']), ...this.lookup(current.$ref as string) };
    }
    if (Array.isArray(current.allOf)) {
      let merged: Schema = withoutKeys(current, ['allOf']);
      for (const part of current.allOf) merged = mergeSchemas(merged, this.resolve(asSchema(part)));
      current = merged;
    }
    return current;
  }

  private lookup(reference: string): Schema {
    if (reference === '#') return this.root;
    if (!reference.startsWith('#/')) return {};
    let node: unknown = this.root;
    for (const segment of reference.slice(2).split('/')) {
      const key = decodeURIComponent(segment).replace(/~1/g, '/').replace(/~0/g, '~');
      node = node !== null && typeof node === 'object' ? (node as Schema)[key] : undefined;
    }
    return asSchema(node);
  }

  private object(schema: Schema, depth: number): JsonValue {
    const properties = asSchema(schema.properties);
    const required = new Set(Array.isArray(schema.required) ? schema.required.filter(isString) : []);
    const result: { [key: string]: JsonValue } = {};
    for (const [name, propertySchema] of Object.entries(properties)) {
      if (depth >= MAX_DEPTH && !required.has(name)) continue;
      result[name] = this.sample(asSchema(propertySchema), depth + 1);
    }
    // Required names without a declared schema still have to be present.
    for (const name of required) if (!(name in result)) result[name] = plainWords(this.random, 2);
    return result;
  }

  private array(schema: Schema, depth: number): JsonValue {
    const prefixItems = Array.isArray(schema.prefixItems) ? schema.prefixItems.map(asSchema) : [];
    const minimum = nonNegative(schema.minItems) ?? 0;
    const maximum = nonNegative(schema.maxItems) ?? Infinity;
    const preferred = depth >= MAX_DEPTH ? 0 : this.random.integer(1, 3);
    const length = Math.min(Math.max(preferred, minimum), maximum);
    const itemSchema = asSchema(schema.items);
    const items: JsonValue[] = [];
    const seen = new Set<string>();
    for (let attempt = 0; items.length < length && attempt < length * 8; attempt++) {
      const item = this.sample(prefixItems[items.length] ?? itemSchema, depth + 1);
      const key = JSON.stringify(item);
      if (schema.uniqueItems === true && seen.has(key)) continue;
      seen.add(key);
      items.push(item);
    }
    return items;
  }

  private string(schema: Schema): string {
    let text = formatted(schema.format, this.random) ?? plainWords(this.random, this.random.integer(1, 4));
    const minimum = nonNegative(schema.minLength) ?? 0;
    const maximum = nonNegative(schema.maxLength);
    while (text.length < minimum) text += ` ${plainWords(this.random, 1)}`;
    if (maximum !== undefined && text.length > maximum) text = text.slice(0, maximum);
    return text.length < minimum ? text.padEnd(minimum, 'a') : text;
  }

  private number(schema: Schema, integer: boolean): number {
    const bounds = numericBounds(schema);
    const step = positive(schema.multipleOf) ?? (integer ? 1 : undefined);
    if (step !== undefined) {
      // Work in multiples of the step: the k in k * step.
      let first = bounds.low === undefined ? undefined : bounds.lowExclusive ? Math.floor(bounds.low / step) + 1 : Math.ceil(bounds.low / step);
      let last = bounds.high === undefined ? undefined : bounds.highExclusive ? Math.ceil(bounds.high / step) - 1 : Math.floor(bounds.high / step);
      first ??= last === undefined ? 0 : last - 100;
      last ??= first + 100;
      const multiple = last < first ? first : this.random.integer(first, Math.min(last, first + 100));
      // Round away float noise (48 * 0.1 = 4.800000000000001) to the step's own decimals.
      return Number((multiple * step).toFixed(decimalsOf(step)));
    }
    const low = bounds.low ?? (bounds.high === undefined ? 0 : bounds.high - 100);
    const high = bounds.high ?? low + 100;
    // Two decimals keep the JSON short; fall back to the midpoint if rounding hit a bound.
    const value = Math.round((low + this.random.next() * (high - low)) * 100) / 100;
    const inside = (bounds.lowExclusive ? value > low : value >= low) && (bounds.highExclusive ? value < high : value <= high);
    return inside ? value : (low + high) / 2;
  }
}

interface NumericBounds {
  low: number | undefined;
  lowExclusive: boolean;
  high: number | undefined;
  highExclusive: boolean;
}

/** The tightest bounds, from draft 6+ numeric exclusives or draft 4 boolean ones. */
function numericBounds(schema: Schema): NumericBounds {
  const bounds: NumericBounds = { low: finite(schema.minimum), lowExclusive: schema.exclusiveMinimum === true, high: finite(schema.maximum), highExclusive: schema.exclusiveMaximum === true };
  const exclusiveLow = finite(schema.exclusiveMinimum);
  if (exclusiveLow !== undefined && (bounds.low === undefined || exclusiveLow >= bounds.low)) {
    bounds.low = exclusiveLow;
    bounds.lowExclusive = true;
  }
  const exclusiveHigh = finite(schema.exclusiveMaximum);
  if (exclusiveHigh !== undefined && (bounds.high === undefined || exclusiveHigh <= bounds.high)) {
    bounds.high = exclusiveHigh;
    bounds.highExclusive = true;
  }
  return bounds;
}

const FORMATS: Record<string, (random: SeededRandom) => string> = {
  'date-time': (random) => `2026-${pad(random.integer(1, 12))}-${pad(random.integer(1, 28))}T${pad(random.integer(0, 23))}:00:00Z`,
  date: (random) => `2026-${pad(random.integer(1, 12))}-${pad(random.integer(1, 28))}`,
  time: (random) => `${pad(random.integer(0, 23))}:${pad(random.integer(0, 59))}:00Z`,
  email: (random) => `${plainWords(random, 1)}@example.com`,
  uri: (random) => `https://example.com/${plainWords(random, 1)}`,
  uuid: (random) => `00000000-0000-4000-8000-${String(random.integer(0, 999_999_999_999)).padStart(12, '0')}`,
  hostname: () => 'example.com',
  ipv4: (random) => `192.0.2.${random.integer(1, 254)}`,
};

function formatted(format: unknown, random: SeededRandom): string | undefined {
  if (typeof format !== 'string') return undefined;
  return (FORMATS[format === 'url' ? 'uri' : format] ?? (() => undefined))(random);
}

function typeOf(schema: Schema): string | undefined {
  const type = Array.isArray(schema.type) ? (schema.type.find((entry) => entry !== 'null') ?? schema.type[0]) : schema.type;
  if (typeof type === 'string') return type;
  if (schema.properties !== undefined || schema.required !== undefined) return 'object';
  if (schema.items !== undefined || schema.prefixItems !== undefined) return 'array';
  return undefined;
}

function mergeSchemas(left: Schema, right: Schema): Schema {
  const merged: Schema = { ...left, ...right };
  if (left.properties !== undefined || right.properties !== undefined) {
    merged.properties = { ...asSchema(left.properties), ...asSchema(right.properties) };
  }
  const required = [left.required, right.required].flatMap((list) => (Array.isArray(list) ? list : []));
  if (required.length > 0) merged.required = [...new Set(required)];
  return merged;
}

function asSchema(value: unknown): Schema {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Schema) : {};
}

function withoutKeys(schema: Schema, keys: string[]): Schema {
  const copy = { ...schema };
  for (const key of keys) delete copy[key];
  return copy;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

function nonNegative(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

function decimalsOf(value: number): number {
  const text = String(value);
  const exponent = /e-(\d+)$/.exec(text);
  if (exponent) return Math.min(Number(exponent[1]) + (text.split('e')[0]?.split('.')[1]?.length ?? 0), 20);
  return Math.min(text.split('.')[1]?.length ?? 0, 20);
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}
