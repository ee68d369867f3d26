import { announceLocalWrite } from "../db";
import { attachAuthCache, AuthCache, authCacheOf } from "../auth";
import { attachSnapshotCache, processEvents, SnapshotCache, snapshotCacheOf } from "../scheduler";
import type { ApiEnv } from "./env";

/**
 * The API's in-memory caches, fed by the process's LISTEN connection: authenticated credentials
 * (lib/auth/cache.ts) and the generator snapshot (lib/scheduler SnapshotCache). Without them every
 * API call cost two queries (the token and the snapshot) through the pool the scheduler uses too.
 * Both serve only while the listener is connected, so until it is, the API reads the database.
 */
export function attachApiCaches(env: ApiEnv): void {
  const events = processEvents(env.databaseUrl, env.log.child({ component: "events" }));
  const auth = new AuthCache(events);
  const snapshot = new SnapshotCache(events);
  attachAuthCache(env.db, auth);
  attachSnapshotCache(env.sql, snapshot);
  events.on("event", (e) => {
    if (e.type === "auth") auth.clear();
    else snapshot.invalidate();
  });
  events.on("reconnected", () => {
    auth.clear();
    snapshot.invalidate();
  });
}

/**
 * After a mutation in this process: its caller's next request must see the change even before the
 * database's notification has come back to this process.
 */
export function invalidateApiCaches(env: ApiEnv): void {
  authCacheOf(env.db)?.clear();
  // And the caches outside the API (the registry list /v2 pulls read, lib/mirror).
  announceLocalWrite(env.db);
  snapshotCacheOf(env.sql)?.invalidate();
}
