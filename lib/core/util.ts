export type Awaitable<T> = T | Promise<T>;

/**
 * URL of a module beside `from` (an `import.meta.url`), for `new Worker(...)`: `.ts` when running from
 * source, `.js` in the built package (dist/), where the same relative layout is kept.
 */
export function siblingModule(name: string, from: string): string {
  return new URL(`./${name}${from.endsWith(".ts") ? ".ts" : ".js"}`, from).href;
}
