import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "../observability";
import { EVENTS_CHANNEL } from "./queue";

export type FerryEvent =
  | { type: "task"; id: string; kind: string; status: string; registryId: string | null; repository: string; reference: string | null }
  | { type: "generator"; registryId: string; phase: string };

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

  constructor(
    private readonly connectionString: string,
    private readonly log?: Logger,
  ) {
    super();
  }

  async start(): Promise<void> {
    await this.#connect();
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
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.#client = client;
    this.#retryMs = 250;
  }

  #scheduleReconnect(dead: pg.Client): void {
    if (this.#closed || this.#client !== dead || this.#timer) return;
    this.#client = null;
    dead.end().catch(() => {});
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
