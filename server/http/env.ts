/**
 * The Hono environment of every route and middleware: what a request carries from middleware to
 * handler. Its own module so that middleware needs no import of the app that mounts it.
 */
import type { Principal } from "./auth.ts";

export type AppEnv = {
  Variables: {
    requestId: string;
    route: string;
    principal: Principal;
    /** Who the rate limits count against: the key, or the client address in open mode. */
    client: string;
  };
};
