/**
 * The one error type of lib/oci. Every failure the client reports is an OciError with a stable
 * `code` that callers branch on, plus what a retry decision needs: the HTTP `status`, the
 * registry's own error code from its JSON body (`registryCode`), `retryable` and `retryAfterMs`.
 *
 * Messages name the registry host and path but never query strings (object-storage redirects
 * carry signed URLs) and never credentials or tokens.
 */
import type { ErrorCode } from "../errors";

export const OCI_ERROR_CODES = [
  // Input rejected before any request was sent.
  "OPTIONS_INVALID",
  "REFERENCE_INVALID",
  "NAME_INVALID",
  "TAG_INVALID",
  "DIGEST_INVALID",
  "UNSUPPORTED_DIGEST",
  // The registry answered with an error.
  "NAME_UNKNOWN",
  "MANIFEST_UNKNOWN",
  "BLOB_UNKNOWN",
  "NOT_FOUND",
  "UNAUTHORIZED",
  "DENIED",
  "TOOMANYREQUESTS",
  "UNSUPPORTED",
  "UPSTREAM_4XX",
  "UPSTREAM_5XX",
  // The registry's answer could not be trusted or used.
  "DIGEST_MISMATCH",
  "SIZE_MISMATCH",
  "MANIFEST_TOO_LARGE",
  "MANIFEST_INVALID",
  "INVALID_RESPONSE",
  "TOO_MANY_REDIRECTS",
  "PAGING_LIMIT",
  "TOO_MANY_TAGS",
  // A redirect or auth realm pointed at an internal address (see redirect-guard.ts).
  "ADDRESS_REFUSED",
  // Transport.
  "TIMEOUT",
  "NETWORK",
  "TLS",
  "ABORTED",
  "CREDENTIALS",
] as const;

export type OciErrorCode = (typeof OCI_ERROR_CODES)[number];

export interface OciErrorOptions {
  status?: number;
  registryCode?: string;
  retryable?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

/** A failure talking to an upstream registry; branch on `code`. */
export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number | undefined;
  readonly registryCode: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: OciErrorCode, message: string, options: OciErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "OciError";
    this.code = code;
    this.status = options.status;
    this.registryCode = options.registryCode;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The Ferry-wide error code (lib/errors table) this failure maps to. */
  get appCode(): ErrorCode {
    return appCodeOf(this.code);
  }
}

/** True for an OciError, also across module copies (checks shape, not prototype). */
export function isOciError(err: unknown): err is OciError {
  return (
    typeof err === "object" &&
    err !== null &&
    (err as { name?: unknown }).name === "OciError" &&
    (OCI_ERROR_CODES as readonly string[]).includes((err as { code?: unknown }).code as string)
  );
}

/** Maps an OciErrorCode to the Ferry-wide code used for HTTP and GraphQL answers. */
export function appCodeOf(code: OciErrorCode): ErrorCode {
  switch (code) {
    case "OPTIONS_INVALID":
    case "CREDENTIALS":
      return "CONFIG_INVALID";
    case "REFERENCE_INVALID":
    case "NAME_INVALID":
    case "TAG_INVALID":
    case "DIGEST_INVALID":
    case "UNSUPPORTED_DIGEST":
      return "BAD_USER_INPUT";
    case "NAME_UNKNOWN":
    case "MANIFEST_UNKNOWN":
    case "BLOB_UNKNOWN":
    case "NOT_FOUND":
      return "NOT_FOUND";
    case "TOOMANYREQUESTS":
      return "RATE_LIMITED";
    case "DIGEST_MISMATCH":
      return "DIGEST_MISMATCH";
    case "TIMEOUT":
      return "UPSTREAM_TIMEOUT";
    default:
      // UNAUTHORIZED/DENIED are Ferry's credentials failing upstream, not the caller's: a 502.
      return "UPSTREAM_ERROR";
  }
}

/** Registry error codes from the distribution spec that name a "not found" situation. */
const NOT_FOUND_CODES: Record<string, OciErrorCode> = {
  NAME_UNKNOWN: "NAME_UNKNOWN",
  MANIFEST_UNKNOWN: "MANIFEST_UNKNOWN",
  BLOB_UNKNOWN: "BLOB_UNKNOWN",
};

/** Drops query and fragment so signed object-storage URLs never reach a message or log. */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid url>";
  }
}

/** Parses `{"errors":[{"code","message"}]}`; tolerant of anything else. */
export function parseRegistryErrorBody(text: string): { code?: string; message?: string } {
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = Array.isArray(body.errors) ? body.errors[0] : undefined;
    if (!first) return {};
    return {
      ...(typeof first.code === "string" ? { code: first.code } : {}),
      ...(typeof first.message === "string" ? { message: first.message.slice(0, 300) } : {}),
    };
  } catch {
    return {};
  }
}

/** Builds the OciError for a non-success HTTP answer. */
export function errorFromStatus(
  status: number,
  what: string,
  bodyText: string,
  retryAfterMs: number | undefined,
): OciError {
  const { code: registryCode, message } = parseRegistryErrorBody(bodyText);
  const detail = message ? `: ${registryCode ?? "error"}: ${message}` : registryCode ? `: ${registryCode}` : "";
  const base = { status, ...(registryCode ? { registryCode } : {}) };
  const text = `${what} answered HTTP ${status}${detail}`;
  if (status === 401) return new OciError("UNAUTHORIZED", text, base);
  if (status === 403) return new OciError("DENIED", text, base);
  if (status === 404) {
    return new OciError((registryCode && NOT_FOUND_CODES[registryCode]) || "NOT_FOUND", text, base);
  }
  if (status === 429 || registryCode === "TOOMANYREQUESTS") {
    return new OciError("TOOMANYREQUESTS", text, {
      ...base,
      retryable: true,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status >= 500) {
    // 501 (not implemented) will not get better by asking again.
    return new OciError("UPSTREAM_5XX", text, {
      ...base,
      retryable: status !== 501,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (registryCode === "UNSUPPORTED" || status === 405) return new OciError("UNSUPPORTED", text, base);
  if (registryCode === "NAME_INVALID") return new OciError("NAME_INVALID", text, base);
  if (registryCode === "TAG_INVALID") return new OciError("TAG_INVALID", text, base);
  if (registryCode === "DIGEST_INVALID") return new OciError("DIGEST_INVALID", text, base);
  if (registryCode === "MANIFEST_INVALID") return new OciError("MANIFEST_INVALID", text, base);
  return new OciError("UPSTREAM_4XX", text, base);
}

const TIMEOUT_CODES = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
]);

/** Turns a thrown transport error (undici, node) into an OciError; OciErrors pass through. */
export function errorFromTransport(err: unknown, what: string): OciError {
  if (isOciError(err)) return err;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : "";
  if (e?.name === "AbortError" || code === "UND_ERR_ABORTED" || code === "ABORT_ERR") {
    return new OciError("ABORTED", `${what} was aborted`, { cause: err });
  }
  if (TIMEOUT_CODES.has(code)) {
    return new OciError("TIMEOUT", `${what} timed out (${code})`, { retryable: true, cause: err });
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/.test(code)) {
    return new OciError(
      "TLS",
      `${what} failed TLS verification (${code}): give the registry's CA bundle, or set tlsVerify: false for a registry you trust`,
      { cause: err },
    );
  }
  const label = code || (typeof e?.message === "string" ? e.message.slice(0, 120) : "unknown error");
  return new OciError("NETWORK", `${what} failed: ${label}`, { retryable: true, cause: err });
}
