/**
 * The SQLite handle the stores use: `bun:sqlite` under Bun; under Node, `better-sqlite3` when the
 * consumer installed it (an optional peer). Both expose the same synchronous API for what the stores
 * need (prepared statements with positional parameters, `transaction(fn).immediate()`), so this file
 * only picks and adapts; it is loaded with `require` because the stores open databases in constructors.
 */
import { createRequire } from "node:module";
import { FaceError } from "../core/internal.ts";

export type SqlValue = string | number | bigint | Uint8Array | null;

export interface SqliteStatement {
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
  run(...params: SqlValue[]): { changes: number };
}

export interface SqliteDatabase {
  exec(sql: string): void;
  /** A prepared statement, cached per SQL text. */
  query(sql: string): SqliteStatement;
  transaction<T>(fn: () => T): { (): T; immediate(): T };
  close(): void;
}

const require = createRequire(import.meta.url);

interface BetterSqlite3Db {
  exec(sql: string): unknown;
  prepare(sql: string): SqliteStatement;
  transaction<T>(fn: () => T): { (): T; immediate(): T };
  close(): unknown;
}

function fromBetterSqlite3(db: BetterSqlite3Db): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    exec: (sql) => void db.exec(sql),
    query(sql) {
      let stmt = cache.get(sql);
      if (!stmt) cache.set(sql, (stmt = db.prepare(sql)));
      return stmt;
    },
    transaction: (fn) => db.transaction(fn),
    close: () => void db.close(),
  };
}

/** Opens (creating) the database file at `path`, or ":memory:". */
export function openSqlite(path: string): SqliteDatabase {
  if (process.versions.bun) {
    const { Database } = require("bun:sqlite") as { Database: new (p: string, o: object) => SqliteDatabase };
    return new Database(path, { create: true, strict: true });
  }
  let BetterSqlite3: new (p: string) => BetterSqlite3Db;
  try {
    BetterSqlite3 = require("better-sqlite3") as typeof BetterSqlite3;
  } catch (cause) {
    throw new FaceError(
      "UNAVAILABLE",
      "the SQLite store needs Bun, or on Node the better-sqlite3 package (npm install better-sqlite3@12); " +
        "or pass a MemoryGalleryStore / KvGalleryStore",
      { cause },
    );
  }
  return fromBetterSqlite3(new BetterSqlite3(path));
}
