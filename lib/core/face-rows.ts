/**
 * A user's faces (face id → row) as CompanyIndex keeps them: the one face most users have inline,
 * a Map only from the second face on. A Map per user was ~200 bytes of a ~1 KB per-user overhead
 * (twice: the face index and the template index), for a single entry (bench:tenants, "memory").
 */
export class FaceRows {
  private oneId: string | undefined;
  private oneRow = -1;
  private many: Map<string, number> | null = null;

  get size(): number {
    return this.many ? this.many.size : this.oneId === undefined ? 0 : 1;
  }

  has(faceId: string): boolean {
    return this.many ? this.many.has(faceId) : this.oneId === faceId;
  }

  get(faceId: string): number | undefined {
    if (this.many) return this.many.get(faceId);
    return this.oneId === faceId ? this.oneRow : undefined;
  }

  set(faceId: string, row: number): void {
    if (this.many) {
      this.many.set(faceId, row);
    } else if (this.oneId === undefined || this.oneId === faceId) {
      this.oneId = faceId;
      this.oneRow = row;
    } else {
      this.many = new Map([[this.oneId, this.oneRow], [faceId, row]]);
      this.oneId = undefined;
    }
  }

  delete(faceId: string): boolean {
    if (this.many) {
      const had = this.many.delete(faceId);
      if (this.many.size === 1) {
        const [id, row] = this.many.entries().next().value as [string, number];
        this.many = null;
        this.oneId = id;
        this.oneRow = row;
      }
      return had;
    }
    if (this.oneId !== faceId) return false;
    this.oneId = undefined;
    this.oneRow = -1;
    return true;
  }

  *entries(): IterableIterator<[string, number]> {
    if (this.many) yield* this.many.entries();
    else if (this.oneId !== undefined) yield [this.oneId, this.oneRow];
  }

  [Symbol.iterator](): IterableIterator<[string, number]> {
    return this.entries();
  }

  *keys(): IterableIterator<string> {
    for (const [id] of this.entries()) yield id;
  }

  *values(): IterableIterator<number> {
    for (const [, row] of this.entries()) yield row;
  }
}
