/**
 * Request and task ids for every log line written while serving a request or running a task,
 * without passing a child logger through every call: the logger's mixin reads this store.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

export interface LogContext {
  reqId?: string;
  taskId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `ctx` added to the current context (inner values win). */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...ctx }, fn);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

/**
 * The request id for a request: the client's `x-request-id` when it is a sane token (a proxy in
 * front usually sets one, and keeping it lets the two logs be joined), else a new one.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  const v = Array.isArray(header) ? header[0] : header;
  if (v && /^[A-Za-z0-9._:-]{1,128}$/.test(v)) return v;
  return randomUUID();
}
