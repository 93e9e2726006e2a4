/** The console's bulk enrollment plan without a browser: folders and CSVs to items, batches, resume keys. */
import { describe, expect, test } from "bun:test";
import { batches, csvRows, planBulk, planSignature, type BulkFile } from "../../admin-web/src/bulk-plan.ts";

const f = (path: string, n = 10): BulkFile => ({ path, bytes: new Uint8Array(n) });

describe("bulk plan", () => {
  test("<person>/<photo>: the folder is the id, the file name the face id; hidden files, other files and loose photos left out", () => {
    const p = planBulk([f("zip/ann/2.png"), f("zip/ann/1.jpg"), f("zip/bob/a.JPEG"), f("zip/.hidden/x.jpg"), f("__MACOSX/ann/._1.jpg"), f("zip/notes.txt"), f("loose.jpg")]);
    expect(p.items.map((i) => `${i.userId}/${i.faceId}`)).toEqual(["ann/1", "ann/2", "bob/a"]);
    expect(p.ignored.sort()).toEqual(["loose.jpg", "zip/notes.txt"]);
  });

  test("a CSV id,name,file names people and gives their names; rows without a photo are reported", () => {
    const csv = new TextEncoder().encode('id,name,file\r\ne-1,"Lovelace, Ada",photos/ada.jpg\r\ne-2,Bo,bo.jpg\r\ne-3,Nobody,missing.jpg\r\n');
    const p = planBulk([{ path: "list.csv", bytes: csv }, f("photos/ada.jpg"), f("other/bo.jpg")]);
    expect(p.items.map((i) => [i.userId, i.name, i.faceId, i.path])).toEqual([
      ["e-1", "Lovelace, Ada", "ada", "photos/ada.jpg"],
      ["e-2", "Bo", "bo", "other/bo.jpg"],
    ]);
    expect(p.ignored).toEqual(["CSV row e-3,Nobody,missing.jpg (no such photo)"]);
    expect(csvRows('a,"b ""c""",d\n')).toEqual([["a", 'b "c"', "d"]]);
  });

  test("batches: at most 16 photos, a person kept together unless past the server's 32", () => {
    const items = planBulk([...Array.from({ length: 20 }, (_, i) => f(`p${String(i).padStart(2, "0")}/1.jpg`)), ...Array.from({ length: 40 }, (_, i) => f(`zz/${i}.jpg`))]).items;
    const b = batches(items);
    // 16 people; the last 4 and 28 of zz's 40 photos (a person is not split below 32); zz's last 12
    expect(b.map((x) => x.length)).toEqual([16, 32, 12]);
    expect(b.flat()).toEqual(items);
    // the resume key changes with the set of photos
    expect(planSignature("acme", items)).toBe(planSignature("acme", [...items]));
    expect(planSignature("acme", items)).not.toBe(planSignature("acme", items.slice(1)));
  });
});
