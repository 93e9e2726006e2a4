/** The kiosk's small parts on their own: frame checks, the latest-wins slot, key extraction, the per-address counter. */
import { describe, expect, test } from "bun:test";
import { AddressCounter, kioskKey } from "../../../server/kiosk/auth.ts";
import { checkFrame, sniffImage } from "../../../server/kiosk/frame-check.ts";
import { LatestSlot } from "../../../server/kiosk/latest-slot.ts";

describe("frame checks", () => {
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
  test("format by magic bytes; RIFF alone is not WebP", () => {
    expect(sniffImage(jpeg)).toBe("jpeg");
    expect(sniffImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe("png");
    expect(sniffImage(new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 "))).toBe("webp");
    expect(sniffImage(new TextEncoder().encode("RIFF\0\0\0\0WAVEfmt "))).toBeNull();
    expect(sniffImage(new TextEncoder().encode("<svg xmlns="))).toBeNull();
    expect(sniffImage(new Uint8Array(0))).toBeNull();
  });
  test("size, format and truncation, in that order", () => {
    expect(checkFrame(jpeg, 100)).toBeNull();
    expect(checkFrame(jpeg, 4)?.code).toBe("IMAGE_TOO_LARGE");
    expect(checkFrame(new Uint8Array(50), 100)?.code).toBe("INVALID_IMAGE");
    expect(checkFrame(jpeg.slice(0, 6), 100)?.message).toMatch(/truncated/);
  });
});

describe("LatestSlot", () => {
  test("one runs, only the newest waits; every item is released exactly once", async () => {
    const ran: number[] = [];
    const released: string[] = [];
    let held = 0;
    let maxHeld = 0;
    let finish: () => void = () => {};
    const slot = new LatestSlot<number>({
      hold: () => {
        held++;
        maxHeld = Math.max(maxHeld, held);
      },
      run: async (n) => {
        ran.push(n);
        if (n === 1) await new Promise<void>((r) => (finish = r));
      },
      release: (n, how) => {
        held--;
        released.push(`${n}:${how}`);
      },
    });
    for (let i = 1; i <= 5; i++) slot.offer(i);
    expect(slot.busy).toBe(true);
    finish();
    await Bun.sleep(5);
    expect(ran).toEqual([1, 5]);
    expect(released).toEqual(["2:dropped", "3:dropped", "4:dropped", "1:done", "5:done"]);
    expect({ held, maxHeld, busy: slot.busy }).toEqual({ held: 0, maxHeld: 2, busy: false });
  });
  test("a throwing run does not strand the waiting item; stop releases the waiting one", async () => {
    const ran: number[] = [];
    const released: string[] = [];
    let gate: () => void = () => {};
    const slot = new LatestSlot<number>({
      run: async (n) => {
        ran.push(n);
        if (n === 1) {
          await new Promise<void>((r) => (gate = r));
          throw new Error("boom");
        }
      },
      release: (n, how) => released.push(`${n}:${how}`),
    });
    slot.offer(1);
    slot.offer(2);
    gate();
    await Bun.sleep(5);
    expect(ran).toEqual([1, 2]);
    slot.offer(3);
    slot.offer(4);
    slot.stop();
    await Bun.sleep(5);
    slot.offer(5);
    expect(released).toEqual(["1:done", "2:done", "4:cleared", "3:done", "5:cleared"]);
  });
});

describe("kiosk key and per-address counter", () => {
  const req = (query: Record<string, string>, headers: Record<string, string>) => ({
    query: (n: string) => query[n],
    header: (n: string) => headers[n.toLowerCase()],
  });
  test("query, then X-API-Key, then the facegate.key.<key> subprotocol", () => {
    expect(kioskKey(req({ key: "q-key-0001" }, { "x-api-key": "h-key-0001" }))).toBe("q-key-0001");
    expect(kioskKey(req({}, { "x-api-key": "h-key-0001" }))).toBe("h-key-0001");
    expect(kioskKey(req({}, { "sec-websocket-protocol": "facegate.v1, facegate.key.p-key-0001" }))).toBe("p-key-0001");
    expect(kioskKey(req({}, { "sec-websocket-protocol": "facegate.v1, facegate.key." }))).toBeUndefined();
    expect(kioskKey(req({}, {}))).toBeUndefined();
  });
  test("AddressCounter caps per address and frees on remove", () => {
    const c = new AddressCounter(2);
    expect([c.tryAdd("a"), c.tryAdd("a"), c.tryAdd("a"), c.tryAdd("b")]).toEqual([true, true, false, true]);
    c.remove("a");
    expect(c.of("a")).toBe(1);
    expect(c.tryAdd("a")).toBe(true);
  });
});
