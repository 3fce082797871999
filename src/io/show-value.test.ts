/**
 * Hostile values in error messages (bugs the fuzzer found: a 100,000-deep dtype made the
 * safetensors reader throw RangeError instead of ModelFormatError; a missing field printed
 * "undefined"; a 1 MiB tensor name made a 1 MiB message).
 */
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../errors.js';
import { joinSafetensors, RecordingByteSource } from './fuzz-cases.js';
import { readSafetensorsHeader } from './safetensors.js';
import { clipText, quoteName, showValue } from './show-value.js';

const deep = (n: number): unknown => JSON.parse('['.repeat(n) + ']'.repeat(n));

describe('showValue / quoteName / clipText', () => {
  it('prints small values as JSON and summarises big or deep ones without recursing', () => {
    expect(showValue([3, 5])).toBe('[3,5]');
    expect(showValue('64')).toBe('"64"');
    expect(showValue(undefined)).toBe('nothing');
    expect(showValue(Infinity)).toBe('Infinity');
    expect(showValue([1, -Infinity])).toBe('[1,"-Infinity"]');
    expect(showValue(deep(100_000))).toBe('an array of 1 item');
    expect(showValue(Array(5000).fill(1))).toBe('an array of 5000 items');
    expect(showValue({ a: deep(100) })).toBe('a large or deeply nested object');
    expect(showValue('x'.repeat(2 ** 20))).toMatch(/^"x{60}"… \(1048576 characters\)$/);
    expect(showValue('x'.repeat(2 ** 20)).length).toBeLessThan(120);
  });

  it('quotes and escapes names, and clips long ones', () => {
    expect(quoteName('a.weight')).toBe('"a.weight"');
    expect(quoteName('\u001b[2J')).toBe('"\\u001b[2J"');
    expect(quoteName('n'.repeat(1000))).toBe(`"${'n'.repeat(120)}"… (1000 characters)`);
    expect(clipText('short')).toBe('short');
    expect(clipText('t'.repeat(300))).toBe(`${'t'.repeat(240)}… (300 characters)`);
  });

  it('a safetensors header with a 100,000-deep dtype or a 1 MiB name gives a short ModelFormatError', async () => {
    const header = (text: string) => new RecordingByteSource('model.safetensors', joinSafetensors(text, new Uint8Array(4)));
    const deepDtype = `{"w": {"dtype": ${'['.repeat(100_000)}${']'.repeat(100_000)}, "shape": [1], "data_offsets": [0, 4]}}`;
    await expect(readSafetensorsHeader(header(deepDtype))).rejects.toThrow(/^model\.safetensors: tensor "w": unsupported dtype an array of 1 item; expected one of F64/);
    const longName = `{"${'n'.repeat(2 ** 20)}": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}`;
    const error = await readSafetensorsHeader(header(longName)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect((error as Error).message).toMatch(/^model\.safetensors: tensor "n+"… \(1048576 characters\): byte length mismatch: shape \[2\] × 4 bytes \(F32\) = 8, data_offsets span 4$/);
  });
});
