/**
 * Money is an integer count of pico-dollars (1e-12 USD) held in a bigint.
 *
 * Why pico-dollars: provider prices are quoted in USD per million tokens with up to
 * six decimals ($0.075 / M). One token at such a price is a whole number of
 * pico-dollars (0.075 * 1e6 = 75,000), so every call's cost is an exact integer and
 * a million calls sum to the last unit. Why bigint: a $10,000 budget is 1e16
 * pico-dollars, beyond Number's exact range.
 */
export type Money = bigint;

export const PICOS_PER_USD = 1_000_000_000_000n;
const USD_DECIMALS = 12;

export const ZERO: Money = 0n;

export class MoneyFormatError extends Error {
  readonly code = 'invalid_money';
}

/**
 * Parses a decimal USD amount ("0.15", "12", "1e-7" is refused) into Money.
 * Numbers are accepted for convenience and converted through their shortest decimal
 * representation, which is what a person typed.
 */
export function parseUsd(value: string | number): Money {
  let text = typeof value === 'number' ? numberToPlainDecimal(value) : value.trim();
  const match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new MoneyFormatError(`not a decimal USD amount: ${JSON.stringify(value)}`);
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > USD_DECIMALS && /[1-9]/.test(fraction.slice(USD_DECIMALS))) {
    throw new MoneyFormatError(`more precision than a pico-dollar: ${text}`);
  }
  text = whole + fraction.slice(0, USD_DECIMALS).padEnd(USD_DECIMALS, '0');
  const picos = BigInt(text);
  return sign ? -picos : picos;
}

/** Formats Money as a plain decimal USD string with trailing zeros trimmed ("0.00015"). */
export function formatUsd(amount: Money, minDecimals = 0): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(USD_DECIMALS + 1, '0');
  const whole = digits.slice(0, -USD_DECIMALS);
  let fraction = digits.slice(-USD_DECIMALS).replace(/0+$/, '');
  if (fraction.length < minDecimals) fraction = fraction.padEnd(minDecimals, '0');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Rounds to cents-or-better for people: "$0.0123", "$12.35". Never used for arithmetic. */
export function displayUsd(amount: Money): string {
  const abs = amount < 0n ? -amount : amount;
  const decimals = abs >= PICOS_PER_USD ? 2 : abs >= PICOS_PER_USD / 100n ? 4 : 6;
  const unit = 10n ** BigInt(USD_DECIMALS - decimals);
  const rounded = ((abs + unit / 2n) / unit) * unit;
  return `${amount < 0n ? '-' : ''}$${formatUsd(rounded, decimals)}`;
}

/** Converts to a JS number for charts and rates only: lossy, never for the ledger. */
export function toApproximateUsd(amount: Money): number {
  return Number(amount) / 1e12;
}

export function minMoney(a: Money, b: Money): Money {
  return a < b ? a : b;
}

export function maxMoney(a: Money, b: Money): Money {
  return a > b ? a : b;
}

function numberToPlainDecimal(value: number): string {
  if (!Number.isFinite(value)) throw new MoneyFormatError(`not a finite amount: ${value}`);
  const text = String(value);
  if (!/e/i.test(text)) return text;
  // 1e-7 and friends: expand exponent notation without going through floats again.
  const [mantissa = '', exponentText = '0'] = text.toLowerCase().split('e');
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const [intPart = '', fracPart = ''] = mantissa.replace('-', '').split('.');
  const digits = intPart + fracPart;
  const point = intPart.length + exponent;
  const plain =
    point <= 0
      ? `0.${'0'.repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + '0'.repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (negative ? '-' : '') + plain;
}
