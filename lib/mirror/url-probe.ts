/**
 * An active check of each upstream url, so urls no request hits (a registry's fallback url, a
 * registry with no sync running) still get a health row. The probe only sends `GET /v2/` through
 * the registry's own client for that url (its TLS, CA, client certificate, credentials and
 * dispatcher: the sync's HTTP stack). The passive recorder (url-health.ts) sees the answer or the
 * network error on undici's diagnostics channels and writes `upstream_url_health`, exactly as for
 * a sync request. A probe that gets no answer within `timeoutMs` is the one thing the recorder
 * cannot tell from a caller giving up (both are aborts), so the probe writes that DOWN itself: an
 * upstream that accepts connections and never answers is down.
 *
 * Every `intervalMs`, urls whose row is missing or older than the interval are probed (one SELECT
 * for all origins), a few at a time, each bounded by `timeoutMs`. Processes sharing the database
 * each run the probe; the staleness check keeps a url to about one probe per interval per process.
 */
import { mapLimit } from "../concurrency";
import type { Logger } from "../observability";
import type { Sql } from "../scheduler";
import type { RegistryEntry } from "./services";
import { writeUrlHealth } from "./url-health";

export interface UrlProbeOptions {
  sql: Sql;
  log: Logger;
  /** The registries (ServiceCache `all()`); disabled ones are skipped. */
  registries(): Promise<RegistryEntry[]>;
  /** Default 60 s. */
  intervalMs?: number;
  /**
   * Before the first round. Default: one interval, so a process's own start-up sync has observed
   * the urls it uses first and a short-lived process (a CLI, a test) sends no probe at all.
   */
  firstDelayMs?: number;
  /** Per probe. Default 10 s. */
  timeoutMs?: number;
  /** Probes in flight at once. Default 4. */
  concurrency?: number;
}

export interface UrlProbe {
  /** Runs one round now (also what the timer does); resolves when its probes are answered. */
  round(): Promise<void>;
  /** Stops the timer, aborts probes in flight and waits for the round to end. */
  stop(): Promise<void>;
}

interface Target {
  origin: string;
  entry: RegistryEntry;
  index: number;
}

export function startUrlProbe(o: UrlProbeOptions): UrlProbe {
  const intervalMs = o.intervalMs ?? 60_000;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const concurrency = o.concurrency ?? 4;
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  const targets = async (): Promise<Target[]> => {
    const byOrigin = new Map<string, Target>();
    for (const entry of await o.registries()) {
      if (!entry.enabled) continue;
      entry.config.urls.forEach((url, index) => {
        const origin = new URL(url).origin;
        // Two registries on one upstream: one probe says what both need to know.
        if (!byOrigin.has(origin)) byOrigin.set(origin, { origin, entry, index });
      });
    }
    if (byOrigin.size === 0) return [];
    const fresh = await o.sql.query<{ origin: string }>(
      `SELECT origin FROM upstream_url_health
       WHERE origin = ANY($1::text[]) AND last_checked_at > now() - $2::int * interval '1 millisecond'`,
      [...byOrigin.keys()],
      intervalMs,
    );
    for (const r of fresh) byOrigin.delete(r.origin);
    return [...byOrigin.values()];
  };

  const probe = async (t: Target) => {
    if (stopping.signal.aborted) return;
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      await t.entry.service.pingUrl(t.index, { signal: AbortSignal.any([stopping.signal, timeout]) });
    } catch (err) {
      // Expected for a url that is down: the recorder has already seen the failure.
      o.log.debug({ err, origin: t.origin, registry: t.entry.name }, "url probe failed");
      if (timeout.aborted && !stopping.signal.aborted) {
        const ob = { status: "DOWN" as const, at: new Date(), error: `no answer to GET /v2/ within ${timeoutMs} ms`, remaining: null };
        await writeUrlHealth(o.sql, t.origin, ob).catch((e: unknown) => o.log.warn({ err: e, origin: t.origin }, "recording a url probe timeout failed"));
      }
    }
  };

  const runRound = async () => {
    try {
      await mapLimit(await targets(), concurrency, probe);
    } catch (err) {
      o.log.warn({ err }, "url probe round failed");
    }
  };

  const round = (): Promise<void> => {
    running ??= runRound().finally(() => {
      running = null;
    });
    return running;
  };

  const schedule = (delayMs: number) => {
    if (stopping.signal.aborted) return;
    timer = setTimeout(() => void round().then(() => schedule(intervalMs)), delayMs);
    timer.unref();
  };
  schedule(o.firstDelayMs ?? intervalMs);

  return {
    round,
    stop: async () => {
      stopping.abort();
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
