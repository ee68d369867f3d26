import { processWideWeakMap } from "../process-wide";
import type { Db } from "./client";

/**
 * "This process just wrote through `db`": in-process caches that other processes keep current
 * from the database's NOTIFY (the registry list every pull reads, lib/mirror) hear it here too,
 * before the answer to the write goes out. The notification reaches this process a moment after
 * the commit; a pull sent by the same client right after its edit must not be answered from the
 * list read before it. Keyed by the client, process-wide (Next.js bundles its own copy of this
 * module).
 */
function listeners(db: Db): Set<() => void> {
  const all = processWideWeakMap<Db, Set<() => void>>("ferry.db.localWriteListeners");
  let set = all.get(db);
  if (!set) all.set(db, (set = new Set()));
  return set;
}

/** Calls `fn` after each write this process announces on `db`; returns the unsubscribe function. */
export function onLocalWrite(db: Db, fn: () => void): () => void {
  const set = listeners(db);
  set.add(fn);
  return () => set.delete(fn);
}

/** Called after a committed write (an API mutation) so this process's caches drop what it changed. */
export function announceLocalWrite(db: Db): void {
  for (const fn of listeners(db)) fn();
}
