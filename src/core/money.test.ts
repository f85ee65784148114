import { describe, expect, it } from 'vitest';
import { displayUsd, formatUsd, parseUsd, PICOS_PER_USD } from './money.js';

describe('money', () => {
  it('parses decimal USD exactly into pico-dollars', () => {
    expect(parseUsd('0.15')).toBe(150_000_000_000n);
    expect(parseUsd('1')).toBe(PICOS_PER_USD);
    expect(parseUsd(1.5e-7)).toBe(150_000n);
    expect(parseUsd('0.000000000001')).toBe(1n);
    expect(parseUsd(12345678.9)).toBe(12_345_678_900_000_000_000n);
  });

  it('refuses what is not an amount or is finer than a pico-dollar', () => {
    expect(() => parseUsd('abc')).toThrow(/not a decimal/);
    expect(() => parseUsd('1e-3')).toThrow(/not a decimal/);
    expect(() => parseUsd('0.0000000000001')).toThrow(/pico-dollar/);
    expect(() => parseUsd(Number.NaN)).toThrow(/finite/);
  });

  it('formats exactly and round-trips', () => {
    for (const text of ['0', '0.15', '12.000000000001', '9007199.254740993', '123456789012.5']) {
      expect(formatUsd(parseUsd(text))).toBe(text);
    }
    expect(formatUsd(-150_000n)).toBe('-0.00000015');
  });

  it('displays rounded amounts for people', () => {
    expect(displayUsd(parseUsd('12.345'))).toBe('$12.35');
    expect(displayUsd(parseUsd('0.0123'))).toBe('$0.0123');
    expect(displayUsd(parseUsd('0.000123'))).toBe('$0.000123');
  });
});
