/** Structured logs: one JSON object per line, filtered by LOG_LEVEL. */
import type { LogLevel } from "../config/server.ts";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** `write` gets one complete line (no newline); default: stdout. */
export function createLogger(level: LogLevel, write: (line: string) => void = (line) => console.log(line)): Logger {
  const min = RANK[level];
  const emit = (lvl: Exclude<LogLevel, "silent">, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < min) return;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }, errorReplacer);
    } catch {
      line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, note: "fields not serialisable" });
    }
    write(line);
  };
  return {
    level,
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}

/** Errors serialise with name, message, stack and cause (server side only: clients never see these). */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message, stack: value.stack };
    if ("code" in value) out.code = (value as { code: unknown }).code;
    if (value.cause !== undefined) out.cause = value.cause;
    return out;
  }
  return value;
}

export const silentLogger: Logger = createLogger("silent", () => {});
