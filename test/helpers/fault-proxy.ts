/**
 * A seeded, deterministic fault-injecting proxy between Ferry and a real registry.
 *
 * Every request is forwarded to the target, the answer read whole (test images are small), and
 * then, by a decision drawn from a PRNG, either passed on intact or broken: an error status
 * (500/502/503), 429 with `Retry-After`, a connection reset before any byte, a reset or a clean
 * close in the middle of the body (truncation), a `Content-Length` that lies, added latency, or a
 * stall (headers and half a body, then nothing for `stallMs`).
 *
 * Determinism: the decision for a request is a pure function of (seed, method, path, how many
 * times this method+path was asked before). Concurrency changes the order in which different
 * paths arrive but not what each path's n-th attempt gets, so a seed reproduces a run.
 *
 * Everything is recorded (`log`): time, method, path, status, fault. Tests assert on it: retries
 * per path, spacing between them, requests per second during a storm.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type FaultKind = "error" | "429" | "reset-before" | "reset-mid" | "truncate" | "wrong-length" | "latency" | "stall";

/** Probability (0..1) of each fault per request; at most one fault per request. */
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface FaultProxyOptions {
  seed?: number;
  rates?: FaultRates;
  /** Only requests for which this returns true can be faulted (default: all but `GET /v2/`). */
  eligible?: (method: string, path: string) => boolean;
  /** `Retry-After` seconds sent with 429 (default 1). */
  retryAfterSeconds?: number;
  /** Added latency range for `latency` (default 20–120 ms). */
  latencyMs?: [number, number];
  /** How long a `stall` holds the body before closing (default 3000 ms). */
  stallMs?: number;
}

export interface FaultRecord {
  at: number;
  method: string;
  path: string;
  /** 0-based count of earlier requests for the same method+path. */
  attempt: number;
  fault: FaultKind | null;
  /** Status sent (or that would have been sent, for resets). */
  status: number;
}

export interface FaultProxy {
  url: string;
  /** Mutable: tests switch faults on and off between phases. */
  rates: FaultRates;
  /** When set, overrides the PRNG: the fault for this request, or null for none. */
  force: ((method: string, path: string) => FaultKind | null) | null;
  readonly log: FaultRecord[];
  /** Injected faults by kind. */
  counts(): Record<FaultKind, number>;
  /** Requests (faulted or not) matching. */
  requests(method?: string, pattern?: RegExp): FaultRecord[];
  reset(): void;
  close(): Promise<void>;
}

const KINDS: FaultKind[] = ["error", "429", "reset-before", "reset-mid", "truncate", "wrong-length", "latency", "stall"];

/** mulberry32: small, fast, good enough for test decisions. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over a string, mixed with the seed. */
function hash(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export async function startFaultProxy(target: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const seed = options.seed ?? 1;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const seen = new Map<string, number>();
  const eligible = options.eligible ?? ((method: string, path: string) => !(method === "GET" && path === "/v2/"));
  const injected = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const proxy: FaultProxy = {
    url: "",
    rates: { ...options.rates },
    force: null,
    log: [],
    counts: () => ({ ...injected }),
    requests(method, pattern) {
      return this.log.filter((r) => (!method || r.method === method) && (!pattern || pattern.test(r.path)));
    },
    reset() {
      this.log.length = 0;
      seen.clear();
      for (const k of KINDS) injected[k] = 0;
    },
    close: async () => {},
  };

  function decide(method: string, path: string, attempt: number): FaultKind | null {
    if (proxy.force) return proxy.force(method, path);
    if (!eligible(method, path)) return null;
    const rnd = mulberry32(hash(seed, `${method} ${path} #${attempt}`))();
    let acc = 0;
    for (const k of KINDS) {
      acc += proxy.rates[k] ?? 0;
      if (rnd < acc) return k;
    }
    return null;
  }

  function fetchUpstream(req: http.IncomingMessage, path: string): Promise<Upstream> {
    return new Promise((resolve, reject) => {
      const up = http.request(
        { host: upstream.hostname, port: upstream.port, path, method: req.method, headers: { ...req.headers, host: upstream.host }, agent },
        (ur) => {
          const chunks: Buffer[] = [];
          ur.on("data", (c: Buffer) => chunks.push(c));
          ur.on("end", () => resolve({ status: ur.statusCode ?? 502, headers: ur.headers, body: Buffer.concat(chunks) }));
          ur.on("error", reject);
        },
      );
      up.on("error", reject);
      req.pipe(up);
    });
  }

  /** Raw HTTP/1.1 head, so Content-Length can lie and the connection can be cut anywhere. */
  function rawHead(status: number, headers: http.IncomingHttpHeaders, contentLength: number): string {
    const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Status"}`];
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined || ["content-length", "connection", "transfer-encoding", "keep-alive"].includes(k)) continue;
      for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
    }
    lines.push(`content-length: ${contentLength}`, "connection: close");
    return `${lines.join("\r\n")}\r\n\r\n`;
  }

  const server = http.createServer((req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const key = `${method} ${path.split("?")[0]}`;
    const attempt = seen.get(key) ?? 0;
    seen.set(key, attempt + 1);
    let fault = decide(method, path.split("?")[0]!, attempt);
    const record: FaultRecord = { at: Date.now(), method, path: path.split("?")[0]!, attempt, fault, status: 0 };
    proxy.log.push(record);
    const socket = req.socket;
    const hasBody = method !== "HEAD";

    if (fault === "error" || fault === "429") {
      injected[fault]++;
      req.resume();
      const status = fault === "429" ? 429 : ([500, 502, 503] as const)[attempt % 3]!;
      record.status = status;
      const body = JSON.stringify({ errors: [{ code: fault === "429" ? "TOOMANYREQUESTS" : "UNAVAILABLE", message: "injected fault" }] });
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        ...(fault === "429" ? { "retry-after": String(options.retryAfterSeconds ?? 1) } : {}),
      });
      res.end(hasBody ? body : undefined);
      return;
    }
    if (fault === "reset-before") {
      injected[fault]++;
      req.resume();
      socket.resetAndDestroy();
      return;
    }
    const go = () => {
      fetchUpstream(req, path).then(
        (up) => {
          record.status = up.status;
          // Body faults need a body; on HEAD or an empty answer they become a reset.
          if ((fault === "reset-mid" || fault === "truncate" || fault === "wrong-length" || fault === "stall") && (!hasBody || up.body.length < 2)) {
            fault = "reset-before";
            record.fault = fault;
          }
          if (fault !== null && fault !== "latency") injected[fault]++;
          const half = up.body.subarray(0, Math.floor(up.body.length / 2));
          switch (fault) {
            case "reset-before":
              socket.resetAndDestroy();
              return;
            case "reset-mid":
              socket.write(rawHead(up.status, up.headers, up.body.length));
              socket.write(half, () => socket.resetAndDestroy());
              return;
            case "truncate":
              socket.write(rawHead(up.status, up.headers, up.body.length));
              socket.end(half);
              return;
            case "wrong-length":
              // Announce more than is sent, then close: the client sees a short body.
              socket.write(rawHead(up.status, up.headers, up.body.length + 17));
              socket.end(up.body);
              return;
            case "stall":
              socket.write(rawHead(up.status, up.headers, up.body.length));
              socket.write(half);
              later(options.stallMs ?? 3000, () => socket.destroy());
              return;
            default: {
              const headers = { ...up.headers };
              delete headers.connection;
              delete headers["transfer-encoding"];
              delete headers["keep-alive"];
              res.writeHead(up.status, headers);
              res.end(hasBody ? up.body : undefined);
            }
          }
        },
        () => {
          record.status = 502;
          if (!res.headersSent) res.writeHead(502).end();
        },
      );
    };
    if (fault === "latency") {
      injected.latency++;
      const [lo, hi] = options.latencyMs ?? [20, 120];
      later(lo + Math.floor(mulberry32(hash(seed, `${key}#lat${attempt}`))() * (hi - lo)), go);
    } else go();
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  server.on("clientError", (_err, s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    timers.forEach((t) => clearTimeout(t));
    timers.clear();
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    agent.destroy();
  };
  return proxy;
}

/** Max requests started in any window of `windowMs` among `records`. */
export function peakRate(records: readonly FaultRecord[], windowMs = 1000): number {
  const times = records.map((r) => r.at).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
