/**
 * Money on the wire is a decimal string with at most two fraction digits; inside, an integer
 * number of minor units (cents). Never a float: "0.10" + "0.20" is 10 + 20 = 30, exactly.
 */
export const AMOUNT_PATTERN = /^(0|[1-9]\d{0,12})(\.\d{1,2})?$/;

/** Largest amount accepted: 13 integer digits stays far inside Number's exact integer range. */
export const MAX_CENTS = 999_999_999_999_999;

export class InvalidAmountError extends Error {
  override name = 'InvalidAmountError';
  readonly code = 'invalid_amount';
}

export function parseAmount(text: string): number {
  const match = AMOUNT_PATTERN.exec(text);
  if (!match) throw new InvalidAmountError(`"${text}" is not an amount with at most two decimals`);
  const [whole = '0', fraction = ''] = text.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}

export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new InvalidAmountError(`${cents} is not a whole number of cents`);
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * The price of part of a usage record: `amount × part ÷ quantity`, rounded half-up to the cent
 * (exactly half a cent goes up). In integers throughout, so no product of two large numbers is
 * ever rounded: the whole record is its amount, none of it is zero.
 */
export function pricePart(amountCents: number, partMicros: number, quantityMicros: number): number {
  if (quantityMicros <= 0 || partMicros < 0 || partMicros > quantityMicros) {
    throw new RangeError(`cannot price ${partMicros} of ${quantityMicros}`);
  }
  const numerator = BigInt(amountCents) * BigInt(partMicros);
  const whole = BigInt(quantityMicros);
  return Number((2n * numerator + whole) / (2n * whole));
}
