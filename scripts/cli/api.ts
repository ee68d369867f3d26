/** A small REST client for a running Ferry (`/api/v1`), with errors a person can act on. */

/** An error the CLI prints as one line and exits with `exitCode` (1: the server said no, 2: usage, 3: cannot reach). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}

export interface ApiOptions {
  url: string;
  token: string | undefined;
}

export class FerryApi {
  readonly base: string;
  constructor(private readonly o: ApiOptions) {
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw new CliError(`--url ${JSON.stringify(o.url)} is not a URL (e.g. http://localhost:3000)`, 2);
    }
    this.base = u.origin + u.pathname.replace(/\/+$/, "");
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.o.token) throw new CliError("no API token: pass --token or set FERRY_TOKEN (an admin creates one under Tokens, or POST /api/v1/tokens)", 2);
    let res: Response;
    try {
      res = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${this.o.token}`, accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach Ferry at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, 3);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: reported below
    }
    if (!res.ok) {
      const p = json as { code?: string; detail?: string; issues?: Array<{ path: string; message: string }> } | null;
      const issues = p?.issues?.map((i) => `${i.path}: ${i.message}`).join("; ");
      throw new CliError(`${method} ${path}: ${res.status} ${p?.code ?? res.statusText}${p?.detail ? `: ${p.detail}` : ""}${issues ? ` (${issues})` : ""}`, 1);
    }
    if (json === null && text) throw new CliError(`${method} ${path}: the answer is not JSON (is ${this.base} a Ferry?)`, 1);
    return json as T;
  }
}

export interface TaskView {
  id: string;
  kind: string;
  registryName: string | null;
  repository: string;
  reference: string | null;
  status: string;
  attempts: number;
  maxAttempts: number;
  trigger: string;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  bytesCopied: number;
  bytesTotal: number | null;
  blobsCopied: number;
  blobsSkipped: number;
  outcomes: Array<Record<string, unknown>>;
  errorCode: string | null;
  errorMessage: string | null;
}

export interface GeneratorView {
  registryName: string;
  phase: string;
  paused: boolean;
  round: number;
  reposDone: number;
  reposQueued: number;
  runningTasks: number;
  roundStartedAt: string | null;
  roundEndedAt: string | null;
  nextRoundAt: string | null;
  backoffUntil: string | null;
  lastError: string | null;
}
