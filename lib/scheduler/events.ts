import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "../observability";
import { EVENTS_CHANNEL } from "./queue";

export type FerryEvent =
  | { type: "task"; id: string; kind: string; status: string; registryId: string | null; repository: string; reference: string | null }
  | { type: "generator"; registryId: string; phase: string }
  /** An API token, session or user changed (database triggers, see lib/auth/cache.ts). */
  | { type: "auth" }
  /** A registry row was created, changed or deleted (database trigger, see lib/mirror/services.ts). */
  | { type: "registry" };

/**
 * Receives every process's events through Postgres LISTEN on a dedicated connection. When the
 * connection drops (Postgres restarted, network blip) it reconnects with backoff and emits
 * "reconnected" so subscribers can re-read state they may have missed.
 */
export class EventListener extends EventEmitter<{ event: [FerryEvent]; reconnected: []; error: [Error] }> {
  #client: pg.Client | null = null;
  #closed = false;
  #retryMs = 250;
  #timer: NodeJS.Timeout | null = null;
  #opening: Promise<void> | null = null;

  constructor(
    private readonly connectionString: string,
    private readonly log?: Logger,
  ) {
    super();
  }

  async start(): Promise<void> {
    await this.#connect();
  }

  /**
   * True while LISTEN is in place. Caches fed by these events serve only while connected: a
   * change made while the connection was down would otherwise never reach them.
   */
  get connected(): boolean {
    return this.#client !== null;
  }

  /**
   * Connects in the background and keeps retrying with backoff until it works (start() gives up
   * after one attempt). Resolves on the first success; rejects if the first attempt fails (the
   * retries go on).
   */
  open(): Promise<void> {
    this.#opening ??= this.#connect().catch((err: unknown) => {
      this.log?.warn({ err: (err as Error).message }, "event listener cannot connect; retrying");
      this.#retry();
      throw err;
    });
    return this.#opening;
  }

  /** Resolves once connected; rejects if not connected and the first attempt failed. */
  async ready(): Promise<void> {
    if (this.connected) return;
    await (this.#opening ?? this.open());
    if (!this.connected) throw new Error("event listener is not connected");
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 10_000, keepAlive: true });
    client.on("notification", (msg) => {
      if (msg.channel !== EVENTS_CHANNEL || !msg.payload) return;
      try {
        this.emit("event", JSON.parse(msg.payload) as FerryEvent);
      } catch {
        this.log?.warn({ payload: msg.payload.slice(0, 200) }, "unparseable event");
      }
    });
    client.on("error", (err) => {
      this.log?.warn({ err: err.message }, "event listener connection lost");
      this.#scheduleReconnect(client);
    });
    client.on("end", () => this.#scheduleReconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners("end");
      await client.end().catch(() => {});
      throw err;
    }
    this.#client = client;
    this.#retryMs = 250;
  }

  #scheduleReconnect(dead: pg.Client): void {
    if (this.#closed || this.#client !== dead || this.#timer) return;
    this.#client = null;
    dead.end().catch(() => {});
    this.#retry();
  }

  #retry(): void {
    if (this.#closed || this.#timer) return;
    const attempt = () => {
      this.#timer = null;
      if (this.#closed) return;
      this.#connect().then(
        () => this.emit("reconnected"),
        () => {
          this.#retryMs = Math.min(this.#retryMs * 2, 5000);
          this.#timer = setTimeout(attempt, this.#retryMs);
        },
      );
    };
    this.#timer = setTimeout(attempt, this.#retryMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const c = this.#client;
    this.#client = null;
    await c?.end().catch(() => {});
  }
}

const PROCESS = Symbol.for("ferry.process-events");
type Holder = { [PROCESS]?: { url: string; listener: EventListener } };

/**
 * The process's one LISTEN connection for in-memory consumers (subscriptions, the API caches),
 * connecting in the background. On globalThis: Next's bundle and server.ts load their own copies
 * of this module and must share the connection.
 */
export function processEvents(databaseUrl: string, log?: Logger): EventListener {
  const holder = globalThis as Holder;
  const existing = holder[PROCESS];
  if (existing && existing.url === databaseUrl) return existing.listener;
  const listener = new EventListener(databaseUrl, log);
  listener.setMaxListeners(0);
  holder[PROCESS] = { url: databaseUrl, listener };
  listener.open().catch(() => {}); // logged and retried inside
  return listener;
}

/** Closes the process's listener (at shutdown, before the database goes away). */
export async function closeProcessEvents(): Promise<void> {
  const holder = globalThis as Holder;
  const existing = holder[PROCESS];
  delete holder[PROCESS];
  await existing?.listener.close();
}
