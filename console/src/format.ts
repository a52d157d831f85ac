// How the console shows money and dates.

import type { Money } from "@bss/client/gen/bss/type/v1/money_pb";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/**
 * An amount in its currency, to the currency's minor unit (two digits for
 * EUR, none for JPY): the suite's exact decimal string is handed to
 * Intl.NumberFormat as a string, so no float ever holds it (browsers since
 * Chrome 106, Firefox 116, Safari 15.4); a unit price with more digits
 * than the currency's keeps them.
 */
export function money(amount: Money | undefined, locale = navigator.language): string {
  if (!amount || !amount.currencyCode || !amount.amount) {
    return "";
  }
  try {
    // At least the currency's minor digits; a price with more (0.0125) keeps them all.
    const format = new Intl.NumberFormat(locale, {
      style: "currency",
      currency: amount.currencyCode,
      maximumFractionDigits: 20,
    });
    return format.format(amount.amount as Intl.StringNumericLiteral);
  } catch {
    // A currency this browser does not know: the figure as the suite sent it.
    return `${amount.amount} ${amount.currencyCode}`;
  }
}

/** A timestamp in `timeZone` (the tenant's), to the minute. */
export function dateTime(when: Timestamp | undefined, timeZone = "UTC", locale = navigator.language): string {
  if (!when) {
    return "";
  }
  const options: Intl.DateTimeFormatOptions = { dateStyle: "medium", timeStyle: "short" };
  try {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(timestampDate(when));
  } catch {
    // A zone this browser does not know: UTC, said so.
    return `${new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" }).format(timestampDate(when))} UTC`;
  }
}

/** Today in `timeZone` (UTC when this browser does not know it), YYYY-MM-DD. */
export function today(timeZone: string): string {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

/** Days of history an account's charts show. */
export const HISTORY_DAYS = 90;

/** Today in `timeZone` and the day `days` before it, YYYY-MM-DD (a history's range). */
export function lastDays(timeZone: string, days: number): { fromDate: string; toDate: string } {
  const toDate = today(timeZone);
  const from = new Date(`${toDate}T00:00:00Z`);
  from.setUTCDate(from.getUTCDate() - days);
  return { fromDate: from.toISOString().slice(0, 10), toDate };
}
