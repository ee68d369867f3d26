/**
 * The browser's API client: REST under /api/v1 with the session cookie and, for anything but
 * GET, the session's CSRF token (rendered into a <meta> by the layout). Errors come back as
 * ApiError with Ferry's stable code, the API's message and the field issues for inline display.
 */
export interface Issue {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function csrfToken(): string {
  if (typeof document === "undefined") return "";
  return document.querySelector<HTMLMetaElement>('meta[name="ferry-csrf"]')?.content ?? "";
}

let leaving = false;

/** Navigates away for good (sign-out): later 401s from background polling must not redirect again. */
export function leaveTo(url: string): void {
  leaving = true;
  window.location.assign(url);
}

export async function api<T>(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...extraHeaders };
  if (method !== "GET") headers["x-csrf-token"] = csrfToken();
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, credentials: "same-origin", cache: "no-store", ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new ApiError(`Ferry did not answer: ${(err as Error).message}`, 0, "NETWORK");
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const p = (json ?? {}) as { detail?: string; title?: string; code?: string; issues?: Issue[]; details?: { issues?: Issue[] } };
    if (res.status === 401 && typeof window !== "undefined" && !path.startsWith("/session") && !leaving) {
      leaveTo(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    }
    throw new ApiError(p.detail ?? p.title ?? `HTTP ${res.status}`, res.status, p.code ?? "HTTP_" + res.status, p.issues ?? p.details?.issues ?? []);
  }
  return json as T;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Issues keyed by field path with the API's `body.` prefix removed (`urls[0]`, `content[1].prefix`). */
export function issuesByField(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(err instanceof ApiError)) return out;
  for (const i of err.issues) {
    const key = i.path.replace(/^(body|config)\.?/, "").replace(/^config\.?/, "");
    out[key] = out[key] ? `${out[key]}; ${i.message}` : i.message;
  }
  return out;
}
