// How the console shows money and dates.

import type { Money } from "@bss/client/gen/bss/type/v1/money_pb";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/**
 * An amount in its currency, to the currency's minor unit (two digits for
 * EUR, none for JPY): the suite's exact decimal string is handed to
 * Intl.NumberFormat as a string, so no float ever holds it, and rounded
 * half away from zero (Intl's default, "halfExpand") where it has more digits.
 */
export function money(amount: Money | undefined, locale = navigator.language): string {
  if (!amount || !amount.currencyCode) {
    return "";
  }
  const format = new Intl.NumberFormat(locale, { style: "currency", currency: amount.currencyCode });
  return format.format(amount.amount as Intl.StringNumericLiteral);
}

/** A timestamp in `timeZone` (the tenant's), to the minute. */
export function dateTime(when: Timestamp | undefined, timeZone = "UTC", locale = navigator.language): string {
  if (!when) {
    return "";
  }
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(
    timestampDate(when),
  );
}
