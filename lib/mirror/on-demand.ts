import { AppError, type ErrorCode } from "../errors";
import type { OnDemandSource } from "../distribution";
import type { Logger } from "../observability";
import type { Store } from "../store";
import { enqueue, getTask, PRIORITY, type EventListener, type FerryEvent, type Sql, type TaskRecord } from "../scheduler";
import type { ServiceCache } from "./services";

/** Upstream answers that mean "try the next registry whose rules map this name". */
const FALL_THROUGH = new Set(["MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND", "FILTERED", "UNAUTHORIZED", "DENIED", "UNSIGNED", "NAME_INVALID"]);

/** How many tags' last upstream check times a process remembers (see `#checkedAt`). */
const CHECKED_CACHE_MAX = 10_000;

/** The longest a pull of a cached tag waits for its upstream check. */
const REFRESH_WAIT_MS = 10_000;

/** How an upstream failure reaches a pulling client. */
function clientCode(code: string | null): ErrorCode {
  if (code === null) return "UPSTREAM_ERROR";
  if (code === "MANIFEST_UNKNOWN" || code === "NAME_UNKNOWN" || code === "NOT_FOUND" || code === "FILTERED") return "NOT_FOUND";
  if (code === "TOOMANYREQUESTS" || code === "RATE_LIMITED") return "RATE_LIMITED";
  if (code === "TIMEOUT" || code === "UPSTREAM_TIMEOUT") return "UPSTREAM_TIMEOUT";
  if (code === "UNSIGNED" || code === "DENIED") return "FORBIDDEN";
  return "UPSTREAM_ERROR";
}

export interface OnDemandOptions {
  sql: Sql;
  store: Store;
  services: ServiceCache;
  listener: EventListener;
  log: Logger;
}

/**
 * The seed's on-demand path, made durable and shared: a pull of something missing becomes a
 * `syncImage` task (priority above everything else). Identical requests, in this process or any
 * other, join the same live task through its dedupe key, so one upstream copy happens however
 * many clients ask. The task runs on a worker, not on the request, so a client that disconnects
 * does not cancel it; the request waits for the task's end, bounded by the registry's syncTimeout.
 */
export class OnDemand implements OnDemandSource {
  /**
   * When each tag was last checked upstream, as last read from tag_sync_state. A pull within
   * manifestCheckInterval then costs no query. Safe to serve from memory because the time only
   * moves forward: another process's newer check just means we ask the database again a little
   * early. Insertion order makes the Map an LRU-ish bound.
   */
  readonly #checkedAt = new Map<string, number>();

  constructor(private readonly o: OnDemandOptions) {}

  async ensureImage(localRepo: string, reference: string): Promise<boolean> {
    const candidates = (await this.o.services.all()).filter((e) => e.enabled && e.config.onDemand && e.service.upstreamRepoFor(localRepo) !== null);
    if (candidates.length === 0) return false;
    let last: AppError | null = null;
    for (const e of candidates) {
      // Another request's task may have committed it while we looked up registries: check
      // again right before queuing, so a late arrival does not start a second sync.
      if (await this.#stored(localRepo, reference)) return true;
      const { task } = await enqueue(this.o.sql, {
        kind: "syncImage",
        registryId: e.id,
        repository: localRepo,
        reference,
        priority: PRIORITY.onDemand,
        trigger: "on-demand",
        maxAttempts: 1,
      });
      const end = await this.#waitForEnd(task.id, e.config.syncTimeoutMs);
      if (end.status === "succeeded") return true;
      last = new AppError(clientCode(end.errorCode), `upstream ${e.name}: ${end.errorMessage ?? end.errorCode ?? "sync failed"}`, {
        details: { registry: e.name, upstreamCode: end.errorCode },
      });
      if (e.service.canRetryOnError() && !FALL_THROUGH.has(end.errorCode ?? "")) {
        // One background retry, as the seed does, so the next pull may find it mirrored.
        await enqueue(this.o.sql, {
          kind: "syncImage",
          registryId: e.id,
          repository: localRepo,
          reference,
          priority: PRIORITY.operator,
          trigger: "on-demand-retry",
          maxAttempts: 1,
          runAfter: new Date(Date.now() + e.config.retryDelayMs),
        }).catch((err: unknown) => this.o.log.warn({ err }, "scheduling the background retry failed"));
      }
      if (!FALL_THROUGH.has(end.errorCode ?? "")) break;
    }
    throw last!;
  }

  async #stored(repo: string, reference: string): Promise<boolean> {
    try {
      await this.o.store.getManifest(repo, reference);
      return true;
    } catch {
      return false;
    }
  }

  async refreshTag(localRepo: string, tag: string): Promise<boolean> {
    const e = (await this.o.services.all()).find((c) => c.enabled && c.config.onDemand && c.service.upstreamRepoFor(localRepo) !== null);
    if (!e) return false; // mirrored periodically (or no longer mapped): the rounds keep it fresh
    const key = `${e.id}\0${localRepo}\0${tag}`;
    const remembered = this.#checkedAt.get(key);
    if (remembered !== undefined && Date.now() - remembered < e.config.manifestCheckIntervalMs) return false;
    const rows = await this.o.sql.query<{ last_checked_at: Date | null }>(
      `SELECT last_checked_at FROM tag_sync_state WHERE registry_id = $1::uuid AND repository = $2 AND tag = $3`,
      e.id,
      localRepo,
      tag,
    );
    const checked = rows[0]?.last_checked_at ? new Date(rows[0].last_checked_at).getTime() : 0;
    if (Date.now() - checked < e.config.manifestCheckIntervalMs) {
      this.#checkedAt.delete(key);
      this.#checkedAt.set(key, checked);
      if (this.#checkedAt.size > CHECKED_CACHE_MAX) this.#checkedAt.delete(this.#checkedAt.keys().next().value!);
      return false;
    }
    try {
      const { task } = await enqueue(this.o.sql, {
        kind: "syncImage",
        registryId: e.id,
        repository: localRepo,
        reference: tag,
        priority: PRIORITY.onDemand,
        trigger: "on-demand:check",
        maxAttempts: 1,
      });
      // A pull waits a little for freshness, not for a slow upstream: past this the cached image
      // is served and the check finishes in the background.
      const end = await this.#waitForEnd(task.id, Math.min(e.config.syncTimeoutMs, REFRESH_WAIT_MS));
      if (end.status !== "succeeded") {
        this.o.log.warn({ registry: e.name, repository: localRepo, tag, code: end.errorCode }, "upstream check failed; serving the cached image");
      }
    } catch (err) {
      this.o.log.warn({ registry: e.name, repository: localRepo, tag, err: (err as Error).message }, "upstream check failed; serving the cached image");
    }
    return true;
  }

  async ensureReferrers(localRepo: string, digest: string): Promise<void> {
    const candidates = (await this.o.services.all()).filter((e) => e.enabled && e.config.onDemand && e.service.upstreamRepoFor(localRepo) !== null);
    for (const e of candidates) {
      const { task } = await enqueue(this.o.sql, {
        kind: "syncReferrers",
        registryId: e.id,
        repository: localRepo,
        reference: digest,
        priority: PRIORITY.onDemand,
        trigger: "on-demand",
      });
      const end = await this.#waitForEnd(task.id, e.config.syncTimeoutMs);
      if (end.status === "succeeded") return;
    }
  }

  /** Resolves when the task ends: woken by its NOTIFY, with a slow poll as a safety net. */
  #waitForEnd(taskId: string, timeoutMs: number): Promise<TaskRecord> {
    const { sql, listener } = this.o;
    return new Promise<TaskRecord>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        listener.off("event", onEvent);
        listener.off("reconnected", check);
        clearInterval(poll);
        clearTimeout(timer);
        fn();
      };
      const check = () => {
        getTask(sql, taskId).then(
          (t) => {
            if (t && t.status !== "queued" && t.status !== "running" && t.status !== "retrying") finish(() => resolve(t));
          },
          () => {},
        );
      };
      const onEvent = (e: FerryEvent) => {
        if (e.type === "task" && e.id === taskId && e.status !== "queued" && e.status !== "running" && e.status !== "retrying") check();
      };
      listener.on("event", onEvent);
      listener.on("reconnected", check);
      const poll = setInterval(check, 2000);
      const timer = setTimeout(
        () => finish(() => reject(new AppError("UPSTREAM_TIMEOUT", `the upstream copy did not finish within ${Math.round(timeoutMs / 1000)} s; it goes on in the background`))),
        timeoutMs,
      );
      check();
    });
  }
}
