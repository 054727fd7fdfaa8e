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

/** Minor-unit decimals of a currency unless configured otherwise (kopecks, cents). */
export const DEFAULT_MINOR_DECIMALS = 2;

/**
 * What a payout of this balance pays: rounded DOWN to whole minor units (OEBS pays kopecks). The
 * part below one minor unit stays on the account for a later payout; rounding up would pay money
 * that is not there, rounding half-up would do so for half of all balances.
 */
export const floorToMinor = (a: string, decimals: number): string => new Big(a).round(decimals, Big.roundDown).toFixed();

/** True when the amount is a whole number of minor units ("100.50" with 2 decimals; not "0.005"). */
export const isWholeMinor = (a: string, decimals: number): boolean => new Big(a).round(decimals, Big.roundDown).eq(a);

/** Exactly `decimals` fractional digits, for display on the wire ("100.5" → "100.50"). */
export const toMinorText = (a: string, decimals: number): string => new Big(a).toFixed(decimals);

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
