/**
 * A quantity of a product's unit (GB, hour) on the wire is a decimal string with at most six
 * fraction digits; inside, an integer number of millionths. Nine integer digits keep every
 * quantity (10^15 millionths) and every sum of a few thousand of them exact in a Number.
 */
export const QUANTITY_PATTERN = /^(0|[1-9]\d{0,8})(\.\d{1,6})?$/;

export const MICROS_PER_UNIT = 1_000_000;

export class InvalidQuantityError extends Error {
  override name = 'InvalidQuantityError';
  readonly code = 'invalid_quantity';
}

export function parseQuantity(text: string): number {
  if (!QUANTITY_PATTERN.test(text)) {
    throw new InvalidQuantityError(`"${text}" is not a quantity with at most six decimals`);
  }
  const [whole = '0', fraction = ''] = text.split('.');
  return Number(whole) * MICROS_PER_UNIT + Number(fraction.padEnd(6, '0'));
}

/** Millionths as the shortest decimal string: 1_500_000 → "1.5", 2_000_000 → "2". */
export function formatQuantity(micros: number): string {
  if (!Number.isSafeInteger(micros) || micros < 0) throw new InvalidQuantityError(`${micros} is not a quantity`);
  const whole = Math.trunc(micros / MICROS_PER_UNIT);
  const fraction = String(micros % MICROS_PER_UNIT)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}
