// How the console shows dates: in the tenant's time zone, to the minute.

/** A timestamp in `timeZone` (the tenant's), to the minute. */
export function dateTime(when: Date, timeZone = "UTC", locale = navigator.language): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(when);
}
