// Money is a decimal string on every wire and in every variable; arithmetic goes through big.js
// (exact decimal), never through a JS number.
import Big from 'big.js';

/** Up to 18 integer digits and 6 decimals: what numeric(24,6) holds. No sign, no exponent. */
export const AMOUNT_PATTERN = '^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,6})?$';
const amountRe = new RegExp(AMOUNT_PATTERN);

export const isAmount = (s: string): boolean => amountRe.test(s);

/** Canonical form: no trailing fractional zeros ("100.50" → "100.5", "7.000" → "7"). */
export const canon = (s: string): string => new Big(s).toFixed();

export const add = (a: string, b: string): string => new Big(a).plus(b).toFixed();
export const sub = (a: string, b: string): string => new Big(a).minus(b).toFixed();
export const cmp = (a: string, b: string): -1 | 0 | 1 => new Big(a).cmp(b) as -1 | 0 | 1;
export const isZero = (a: string): boolean => new Big(a).eq(0);
export const isPositive = (a: string): boolean => new Big(a).gt(0);
export const isNegative = (a: string): boolean => new Big(a).lt(0);

/** The amount OEBS gets: rounded half-up (away from zero on .5) to kopecks. */
export const roundOebs = (a: string): string => new Big(a).round(2, Big.roundHalfUp).toFixed(2);

export const sum = (xs: readonly string[]): string => xs.reduce((acc, x) => acc.plus(x), new Big(0)).toFixed();

/**
 * Exactly two decimals, for OEBS ("100.5" → "100.50"). The amount is whole kopecks already; a
 * finer one is refused rather than rounded, since rounding here would send other money than was
 * reserved.
 */
export const twoDecimals = (a: string): string => {
  const b = new Big(a);
  if (!b.round(2, Big.roundDown).eq(b)) throw new Error(`amount ${a} is not whole minor units`);
  return b.toFixed(2);
};
