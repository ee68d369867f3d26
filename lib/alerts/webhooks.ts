import type { AlertEventType, AlertsConfig, WebhookConfig } from "../config";
import { signPayload } from "./signature";

/** Longest wait between two delivery attempts, however many failed before. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * A configured webhook, ready to use. The secret and the URL are private fields (URLs of hosted
 * receivers often carry a token in their path): neither JSON, nor pino walking the object's own
 * properties, nor an API response built from it can show them.
 */
export class Webhook {
  readonly name: string;
  readonly registries: "all" | ReadonlySet<string>;
  readonly events: ReadonlySet<AlertEventType>;
  readonly freshnessThresholdMs: number | null;
  readonly maxAttempts: number;
  /** Failed tasks in a row before a task failure alerts (lib/config/alerts.ts says why). */
  readonly failureAfter: number;
  readonly retryDelayMs: number;
  readonly timeoutMs: number;
  readonly #secret: string;
  readonly #url: string;

  constructor(c: WebhookConfig) {
    if (!c.secret) throw new Error(`webhook ${c.name}: secret not resolved`);
    this.name = c.name;
    this.#url = c.url;
    this.registries = c.registries === "all" ? "all" : new Set(c.registries);
    this.events = new Set(c.events);
    this.freshnessThresholdMs = c.freshnessThreshold ?? null;
    this.maxAttempts = c.maxAttempts;
    this.failureAfter = c.failureAfter;
    this.retryDelayMs = c.retryDelay;
    this.timeoutMs = c.timeout;
    this.#secret = c.secret;
  }

  /** Where events are POSTed (a getter, so not an own property that logs would walk). */
  get url(): string {
    return this.#url;
  }

  covers(registryName: string): boolean {
    return this.registries === "all" || this.registries.has(registryName);
  }

  /** Whether this webhook follows the `failure` condition (its failure or recovery events). */
  get watchesFailure(): boolean {
    return this.events.has("failure") || this.events.has("recovery");
  }

  get watchesFreshness(): boolean {
    return this.freshnessThresholdMs !== null && (this.events.has("freshness") || this.events.has("recovery"));
  }

  sign(timestamp: number, body: string): string {
    return signPayload(this.#secret, timestamp, body);
  }

  /** Delay after failed attempt number `attempt` (1-based): retryDelay, doubled each time, capped. */
  retryDelayAfter(attempt: number): number {
    return Math.min(MAX_RETRY_DELAY_MS, this.retryDelayMs * 2 ** Math.max(0, attempt - 1));
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, registries: this.registries === "all" ? "all" : [...this.registries], events: [...this.events] };
  }
}

export function webhooksFrom(alerts: AlertsConfig): Webhook[] {
  return alerts.webhooks.map((w) => new Webhook(w));
}
