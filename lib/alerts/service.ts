/**
 * Alerts in a running Ferry process: evaluates registry health (on a timer and when the scheduler
 * reports a task or generator change) and sends due events. Every process runs one; the database
 * decides who evaluates (advisory lock) and who sends each event (row claims), so scaling out adds
 * no duplicates. Started and stopped with the mirror (lib/mirror/start.ts).
 */
import { Counter } from "prom-client";
import type { AlertsConfig } from "../config";
import type { Db } from "../db";
import type { FerryMetrics, Logger } from "../observability";
import type { EventListener, FerryEvent, Sql } from "../scheduler";
import { createAlertAgent, postEvent } from "./deliver";
import { evaluate, type WatchedRegistry } from "./evaluate";
import { claimDue, forgetWebhooks, recordAttempt, releaseEvent, type ClaimedEvent, type DeliveryOutcome } from "./outbox";
import { webhooksFrom, type Webhook } from "./webhooks";

export interface AlertServiceOptions {
  db: Db;
  sql: Sql;
  log: Logger;
  config: AlertsConfig;
  /** Enabled registries, with whether they sync periodically (only those can be stale). */
  registries: () => Promise<WatchedRegistry[]>;
  listener?: EventListener;
  metrics?: FerryMetrics;
  /** How often the sender looks for due events (default 1000 ms); local evaluations wake it at once. */
  deliveryPollMs?: number;
}

/** Events sent at once by one process. */
const BATCH = 8;
/** A claimed event's lease beyond the webhook's timeout. */
const LEASE_MARGIN_MS = 30_000;
/** Scheduler events arriving close together cause one evaluation. */
const DEBOUNCE_MS = 500;

/**
 * A one-shot timer that can be brought forward but never pushed back: a steady stream of
 * scheduler events must not keep postponing the evaluation (or sending) it asks for.
 */
class Soonest {
  #timer: NodeJS.Timeout | null = null;
  #due = 0;
  constructor(private readonly fire: () => void) {}

  in(ms: number): void {
    const due = Date.now() + ms;
    if (this.#timer && this.#due <= due) return;
    this.clear();
    this.#due = due;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.fire();
    }, ms);
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

export class AlertService {
  #o: AlertServiceOptions;
  #webhooks: Webhook[];
  #byName: Map<string, Webhook>;
  #evaluateMs: number;
  #agent = createAlertAgent();
  #deliveries: Counter<"webhook" | "outcome"> | null;
  #stop = new AbortController();
  #evalTimer = new Soonest(() => void this.#runEvaluation());
  #sendTimer = new Soonest(() => this.#sendNow());
  #evaluating: Promise<void> | null = null;
  #again = false;
  #warned = new Set<string>();
  #sending: Promise<void> | null = null;
  #started = false;

  constructor(options: AlertServiceOptions) {
    this.#o = options;
    this.#webhooks = webhooksFrom(options.config);
    this.#byName = new Map(this.#webhooks.map((w) => [w.name, w]));
    this.#evaluateMs = options.config.evaluateInterval;
    this.#deliveries = options.metrics ? deliveriesCounter(options.metrics) : null;
  }

  get webhooks(): readonly Webhook[] {
    return this.#webhooks;
  }

  async start(): Promise<void> {
    this.#started = true;
    this.#o.listener?.on("event", this.#onEvent);
    this.#o.listener?.on("reconnected", this.#onReconnected);
    this.#scheduleEvaluation(0);
    this.#scheduleSend(0);
    if (this.#webhooks.length) this.#o.log.info({ webhooks: this.#webhooks.map((w) => w.name) }, "alerts started");
  }

  /** A reloaded config (SIGHUP): new webhooks, thresholds and secrets apply from the next evaluation. */
  async reload(config: AlertsConfig): Promise<void> {
    const before = [...this.#byName.keys()];
    this.#webhooks = webhooksFrom(config);
    this.#byName = new Map(this.#webhooks.map((w) => [w.name, w]));
    this.#evaluateMs = config.evaluateInterval;
    const removed = before.filter((n) => !this.#byName.has(n));
    // An evaluation already running still has the old list: let it finish, or it could write
    // state and events for a removed webhook after they were forgotten.
    await this.#evaluating;
    const dropped = await forgetWebhooks(this.#o.sql, removed);
    if (removed.length) this.#o.log.warn({ removed, dropped }, "webhooks removed from the config: their pending alerts are dropped");
    if (this.#webhooks.length === 0) {
      this.#evalTimer.clear();
      this.#sendTimer.clear();
    }
    this.#scheduleEvaluation(0);
    this.#scheduleSend(0);
  }

  /** Stops the timers, aborts requests in flight (their events go back unsent) and closes the agent. */
  async stop(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new Error("shutting down"));
    this.#o.listener?.off("event", this.#onEvent);
    this.#o.listener?.off("reconnected", this.#onReconnected);
    this.#evalTimer.clear();
    this.#sendTimer.clear();
    await Promise.allSettled([this.#evaluating, this.#sending]);
    await this.#agent.close().catch(() => {});
  }

  /** Evaluates now (waiting for one in progress first); resolves when done. For tests and tools. */
  async evaluateNow(): Promise<void> {
    await this.#evaluating;
    await this.#runEvaluation();
  }

  #onEvent = (e: FerryEvent) => {
    if ((e.type === "task" && (e.status === "failed" || e.status === "succeeded")) || e.type === "generator") this.#scheduleEvaluation(DEBOUNCE_MS);
  };

  #onReconnected = () => this.#scheduleEvaluation(0);

  // Without webhooks nothing is scheduled at all (a reload that adds some starts both loops).
  #scheduleEvaluation(ms: number): void {
    if (this.#stop.signal.aborted || !this.#started || this.#webhooks.length === 0) return;
    if (this.#evaluating) {
      this.#again = true;
      return;
    }
    this.#evalTimer.in(ms);
  }

  #runEvaluation(): Promise<void> {
    if (this.#evaluating) return this.#evaluating;
    const run = this.#evaluateOnce().finally(() => {
      if (this.#evaluating === run) this.#evaluating = null;
      const again = this.#again;
      this.#again = false;
      this.#scheduleEvaluation(again ? DEBOUNCE_MS : this.#evaluateMs);
    });
    this.#evaluating = run;
    return run;
  }

  async #evaluateOnce(): Promise<void> {
    try {
      if (this.#webhooks.length === 0) return;
      const registries = await this.#o.registries();
      this.#warnUnknown(registries);
      const events = await evaluate(this.#o.db, this.#webhooks, registries);
      if (events?.length) {
        for (const e of events) this.#o.log.info({ webhook: e.webhook, registry: e.registry, event: e.type, delivery: e.id }, "alert queued");
        this.#scheduleSend(0);
      }
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#o.log.warn({ err }, "alert evaluation failed");
    }
  }

  /** A webhook naming a registry that is not there (a typo, or disabled) is said once. */
  #warnUnknown(registries: WatchedRegistry[]): void {
    const known = new Set(registries.map((r) => r.name));
    for (const w of this.#webhooks) {
      if (w.registries === "all") continue;
      for (const name of w.registries) {
        const key = `${w.name}|${name}`;
        if (known.has(name) || this.#warned.has(key)) continue;
        this.#warned.add(key);
        this.#o.log.warn({ webhook: w.name, registry: name }, "alert webhook names a registry that is not configured or not enabled");
      }
    }
  }

  #scheduleSend(ms: number): void {
    if (!this.#stop.signal.aborted && this.#started && this.#webhooks.length > 0) this.#sendTimer.in(ms);
  }

  #sendNow(): void {
    const poll = this.#o.deliveryPollMs ?? 1000;
    if (this.#sending) return this.#scheduleSend(poll);
    this.#sending = this.#sendDue().finally(() => {
      this.#sending = null;
      this.#scheduleSend(poll);
    });
  }

  async #sendDue(): Promise<void> {
    try {
      for (;;) {
        if (this.#webhooks.length === 0 || this.#stop.signal.aborted) return;
        const leaseMs = Math.max(...this.#webhooks.map((w) => w.timeoutMs)) + LEASE_MARGIN_MS;
        const due = await claimDue(this.#o.sql, [...this.#byName.keys()], leaseMs, BATCH);
        await Promise.all(due.map((e) => this.#send(e)));
        if (due.length < BATCH) return;
      }
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#o.log.warn({ err }, "sending alerts failed");
    }
  }

  async #send(event: ClaimedEvent): Promise<void> {
    const webhook = this.#byName.get(event.webhook);
    if (!webhook) return void (await releaseEvent(this.#o.sql, event));
    let r;
    try {
      r = await postEvent(this.#agent, webhook, event.payload, event.attempt, this.#stop.signal);
    } catch {
      // Shutting down mid-request: hand it back for the next process (the attempt does not count).
      await releaseEvent(this.#o.sql, event).catch(() => {});
      return;
    }
    const outcome: DeliveryOutcome = r.ok ? "delivered" : r.retryable && event.attempt < event.maxAttempts ? "retrying" : "failed";
    const retryInMs = outcome === "retrying" ? webhook.retryDelayAfter(event.attempt) : null;
    await recordAttempt(this.#o.sql, event, { statusCode: r.statusCode, error: r.error, durationMs: r.durationMs, outcome, retryInMs });
    this.#deliveries?.inc({ webhook: webhook.name, outcome });
    const fields = { webhook: webhook.name, registry: event.registryName, event: event.type, delivery: event.id, attempt: event.attempt, status: r.statusCode };
    if (outcome === "delivered") this.#o.log.info(fields, "alert delivered");
    else if (outcome === "retrying") this.#o.log.warn({ ...fields, error: r.error, retryInMs }, "alert delivery failed; will retry");
    else this.#o.log.error({ ...fields, error: r.error }, "alert delivery failed; giving up");
  }
}

/** `ferry_alert_deliveries_total{webhook,outcome}`: labels bounded by the configured webhooks. */
function deliveriesCounter(metrics: FerryMetrics): Counter<"webhook" | "outcome"> {
  const name = "ferry_alert_deliveries_total";
  return (
    (metrics.registry.getSingleMetric(name) as Counter<"webhook" | "outcome"> | undefined) ??
    new Counter({ name, help: "Alert webhook delivery attempts in this process, by outcome (delivered, retrying, failed)", labelNames: ["webhook", "outcome"] as const, registers: [metrics.registry] })
  );
}
