/**
 * Topic layout. Ids may hold any printable character, topics may not hold `/ + #` inside a level:
 * a level is the id with `% / + #` (and anything outside printable ASCII) percent-encoded, so it
 * reads as the id in the common case and decodes back exactly.
 *
 *   <prefix>/status                              online / offline (retained; the will)
 *   <prefix>/<company>/<kiosk>/identified        JSON, QoS 1 (the event as the events API lists it)
 *   <prefix>/<company>/<kiosk>/unknown           JSON, QoS 1 (stranger events)
 *   <prefix>/<company>/<kiosk>/not_live          JSON, QoS 1 (a photo or screen, failed challenges)
 *   <prefix>/<company>/<kiosk>/last_person       JSON, retained (Home Assistant's "last person" sensor)
 *   <prefix>/<company>/<kiosk>/door/state        LOCKED / UNLOCKED, retained (the "door" lock)
 *   <prefix>/<company>/<kiosk>/door/set          LOCK / UNLOCK from Home Assistant (subscribed)
 *
 * `<kiosk>` is `_` for events without a kiosk name (recognize calls with record: true, unnamed kiosks).
 */
export const NO_KIOSK = "_";

const enc = new TextEncoder();

export function level(id: string): string {
  // "_" alone is the no-kiosk level: a kiosk named "_" is written %5F.
  if (id === NO_KIOSK) return "%5F";
  let out = "";
  for (const ch of id) {
    if (/^[\x21-\x7e]$/.test(ch) && !"%/+#".includes(ch)) out += ch;
    else for (const b of enc.encode(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export function unlevel(l: string): string {
  return decodeURIComponent(l);
}

export type MessageType = "identified" | "unknown" | "not_live";

export class Topics {
  constructor(readonly prefix: string) {}

  get status(): string {
    return `${this.prefix}/status`;
  }

  kiosk(companyId: string, kioskId: string | null | undefined): string {
    return `${this.prefix}/${level(companyId)}/${kioskId ? level(kioskId) : NO_KIOSK}`;
  }

  message(type: MessageType, companyId: string, kioskId: string | null | undefined): string {
    return `${this.kiosk(companyId, kioskId)}/${type}`;
  }

  lastPerson(companyId: string, kioskId: string): string {
    return `${this.kiosk(companyId, kioskId)}/last_person`;
  }

  doorState(companyId: string, kioskId: string): string {
    return `${this.kiosk(companyId, kioskId)}/door/state`;
  }

  doorSet(companyId: string, kioskId: string): string {
    return `${this.kiosk(companyId, kioskId)}/door/set`;
  }

  /** The subscription that receives every kiosk's door commands. */
  get doorSetFilter(): string {
    return `${this.prefix}/+/+/door/set`;
  }

  /** Company and kiosk of a door command topic (null: not one). */
  parseDoorSet(topic: string): { companyId: string; kioskId: string } | null {
    const parts = topic.split("/");
    const p = this.prefix.split("/").length;
    if (parts.length !== p + 4 || parts.slice(0, p).join("/") !== this.prefix || parts[p + 2] !== "door" || parts[p + 3] !== "set") return null;
    if (parts[p + 1] === NO_KIOSK) return null;
    try {
      return { companyId: unlevel(parts[p]), kioskId: unlevel(parts[p + 1]) };
    } catch {
      return null;
    }
  }
}
