import { getApiEnv } from "@/lib/api";
import { processEvents, type EventListener, type FerryEvent } from "@/lib/scheduler";

/**
 * One LISTEN connection per process feeds every subscription (not one per client), shared with
 * the API caches: the scheduler NOTIFYs from any process, so every dashboard on every instance
 * sees each change. A subscription opened before the connection is up waits for it (or fails if
 * its first attempt does).
 */
async function listener(): Promise<EventListener> {
  const env = await getApiEnv();
  const l = processEvents(env.databaseUrl, env.log.child({ component: "events" }));
  if (!l.connected) await l.ready();
  return l;
}

/**
 * Events as an async iterator, for a subscription's lifetime. `map` turns an event into what to
 * send (or null to skip); the listener is detached when the client goes away. Bounded buffer: a
 * slow client loses the oldest events rather than growing memory (each payload is a fresh
 * snapshot, so the newest is what matters).
 */
export async function* subscribe<T>(map: (e: FerryEvent) => Promise<T | null>, signal?: AbortSignal): AsyncGenerator<T> {
  const l = await listener();
  const queue: FerryEvent[] = [];
  let wake: (() => void) | null = null;
  const onEvent = (e: FerryEvent) => {
    queue.push(e);
    if (queue.length > 100) queue.shift();
    wake?.();
  };
  const onAbort = () => wake?.();
  l.on("event", onEvent);
  signal?.addEventListener("abort", onAbort);
  try {
    while (!signal?.aborted) {
      const e = queue.shift();
      if (!e) {
        await new Promise<void>((r) => (wake = r));
        wake = null;
        continue;
      }
      const out = await map(e).catch(() => null);
      if (out !== null) yield out;
    }
  } finally {
    l.off("event", onEvent);
    signal?.removeEventListener("abort", onAbort);
  }
}
