/**
 * Typed, bounded reads of config.json fields: every failure is a ConfigError naming the field
 * (with its path, e.g. `text_config.hidden_size`), the value found and what was expected.
 */
import { ConfigError } from '../errors.js';
import { showValue as show } from '../io/show-value.js';

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface IntBounds {
  min: number;
  max: number;
}

export class FieldReader {
  constructor(
    readonly obj: Record<string, unknown>,
    /** Prefix for messages, e.g. "config.json: text_config." */
    readonly path: string,
  ) {}

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  fail(key: string, expected: string, found: unknown = this.obj[key]): never {
    throw new ConfigError(`${this.path}${key} must be ${expected}, found ${show(found)}`);
  }

  /** Required integer in [min, max] (or `fallback` when absent, if given). */
  int(key: string, bounds: IntBounds, fallback?: number): number {
    if (!this.has(key)) {
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${this.path}${key} is missing (expected an integer in [${bounds.min}, ${bounds.max}])`);
    }
    return this.checkInt(key, this.obj[key], bounds);
  }

  checkInt(key: string, v: unknown, { min, max }: IntBounds): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(key, `an integer in [${min}, ${max}]`, v);
    return v as number;
  }

  /** Number in the open/closed interval described by `ok` (default when absent). */
  num(key: string, fallback: number | undefined, ok: (v: number) => boolean, expected: string): number {
    if (!this.has(key)) {
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${this.path}${key} is missing (expected ${expected})`);
    }
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) this.fail(key, expected);
    return v as number;
  }

  bool(key: string, fallback: boolean): boolean {
    if (!this.has(key)) return fallback;
    const v = this.obj[key];
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v as boolean;
  }

  str(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    if (typeof v !== 'string') this.fail(key, 'a string');
    return v as string;
  }

  /** Integer list (undefined when absent); an integer alone counts as a list of one. */
  intList(key: string, bounds: IntBounds, allowScalar = false): number[] | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    if (allowScalar && typeof v === 'number') return [this.checkInt(key, v, bounds)];
    if (!Array.isArray(v) || v.length > 4096) this.fail(key, `a list of integers in [${bounds.min}, ${bounds.max}]`);
    return (v as unknown[]).map((x) => this.checkInt(key, x, bounds));
  }

  /** Sub-object (undefined when absent). */
  object(key: string): FieldReader | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    if (!isObject(v)) this.fail(key, 'an object');
    return new FieldReader(v as Record<string, unknown>, `${this.path}${key}.`);
  }

  /** A field that, when present, must have exactly this value (unsupported variants). */
  expectValue(key: string, value: unknown, why: string): void {
    if (this.has(key) && this.obj[key] !== value) this.fail(key, `${show(value)} (${why})`);
  }
}
