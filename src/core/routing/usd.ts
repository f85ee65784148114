import type { Money } from '../money.js';

const PICOS_PER_USD = 1_000_000_000_000;

/** Pico-dollars as a float of dollars: for statistics and estimates, never for billing. */
export function toUsdNumber(money: Money): number {
  return Number(money) / PICOS_PER_USD;
}

/** A float of dollars back to pico-dollars, rounded up (an estimate that reserves must not fall short). */
export function fromUsdNumber(usd: number): Money {
  return BigInt(Math.ceil(usd * PICOS_PER_USD));
}
