/**
 * Ferry's one error type. Every failure that crosses a module boundary is an AppError with a
 * stable string `code`; callers branch on `code`, never on `instanceof` or message text. The table
 * below is the only place codes become HTTP statuses and GraphQL `extensions.code` values, so the
 * REST API, GraphQL and `/v2` all agree on what a failure means.
 */

export const ERROR_CODES = {
  BAD_USER_INPUT: { http: 400, graphql: "BAD_USER_INPUT" },
  CONFIG_INVALID: { http: 400, graphql: "BAD_USER_INPUT" },
  UNAUTHENTICATED: { http: 401, graphql: "UNAUTHENTICATED" },
  FORBIDDEN: { http: 403, graphql: "FORBIDDEN" },
  NOT_FOUND: { http: 404, graphql: "NOT_FOUND" },
  CONFLICT: { http: 409, graphql: "CONFLICT" },
  /** An edit sent with the version it read (`If-Match`, `ifVersion`) after someone else changed it. */
  PRECONDITION_FAILED: { http: 412, graphql: "PRECONDITION_FAILED" },
  RATE_LIMITED: { http: 429, graphql: "RATE_LIMITED" },
  UPSTREAM_ERROR: { http: 502, graphql: "UPSTREAM_ERROR" },
  UPSTREAM_TIMEOUT: { http: 504, graphql: "UPSTREAM_TIMEOUT" },
  DIGEST_MISMATCH: { http: 502, graphql: "UPSTREAM_ERROR" },
  STORE_FULL: { http: 507, graphql: "STORE_FULL" },
  RANGE_NOT_SATISFIABLE: { http: 416, graphql: "BAD_USER_INPUT" },
  LOCK_TIMEOUT: { http: 503, graphql: "SERVICE_UNAVAILABLE" },
  DATABASE_UNAVAILABLE: { http: 503, graphql: "SERVICE_UNAVAILABLE" },
  NOT_READY: { http: 503, graphql: "SERVICE_UNAVAILABLE" },
  INTERNAL: { http: 500, graphql: "INTERNAL_SERVER_ERROR" },
  /** A cookie-authenticated state change without the session's CSRF token, or from another origin. */
  CSRF_REJECTED: { http: 403, graphql: "FORBIDDEN" },
  /** A stored secret cannot be opened (FERRY_SECRET_KEY changed, or the data was altered). */
  SECRET_UNREADABLE: { http: 500, graphql: "INTERNAL_SERVER_ERROR" },
  METHOD_NOT_ALLOWED: { http: 405, graphql: "BAD_REQUEST" },
  PAYLOAD_TOO_LARGE: { http: 413, graphql: "BAD_USER_INPUT" },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, graphql: "BAD_USER_INPUT" },
  /** A GraphQL operation deeper, larger or costlier than the limits allow. */
  QUERY_TOO_COMPLEX: { http: 400, graphql: "QUERY_TOO_COMPLEX" },
} as const satisfies Record<string, { http: number; graphql: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  /** Safe, structured detail that may be shown to the caller (never secrets). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.details = options.details;
  }
}

/** True for any error that carries one of Ferry's stable codes. */
export function isAppError(err: unknown): err is AppError {
  return (
    typeof err === "object" &&
    err !== null &&
    typeof (err as { code?: unknown }).code === "string" &&
    (err as { code: string }).code in ERROR_CODES &&
    (err as { name?: unknown }).name === "AppError"
  );
}

export interface PublicError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * Turns any thrown value into what a client may see. Unknown errors become INTERNAL with a fixed
 * message: their text can hold paths, SQL or credentials, so it goes to the log only.
 */
export function toPublicError(err: unknown, log?: (err: unknown) => void): PublicError {
  if (isAppError(err)) {
    return err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: err.details };
  }
  log?.(err);
  return lostRaceOf(err) ?? { code: "INTERNAL", message: "Internal error" };
}

/**
 * A database constraint that stopped a write because a concurrent request won a race the code
 * did not guard (a registry deleted between an operation's lookup and its write, a name created
 * twice at once): the client gets what happened, as a stable code, not a 500. Recognised by the
 * codes Prisma gives them (P2002, P2003, P2025; raw queries: P2010 with Postgres's SQLSTATE), so
 * this module stays free of database imports. Constraint and table names stay in the log.
 */
function lostRaceOf(err: unknown): PublicError | null {
  const e = err as { name?: unknown; code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null;
  if (typeof e !== "object" || e === null || e.name !== "PrismaClientKnownRequestError") return null;
  const sqlState = e.meta?.driverAdapterError?.cause?.originalCode;
  if (e.code === "P2025") return { code: "NOT_FOUND", message: "the record no longer exists (it was deleted meanwhile)" };
  if (e.code === "P2003" || sqlState === "23503") return { code: "NOT_FOUND", message: "something this refers to no longer exists (it was deleted meanwhile)" };
  if (e.code === "P2002" || sqlState === "23505") return { code: "CONFLICT", message: "it already exists (created meanwhile)" };
  return null;
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].http;
}

export function graphqlCodeOf(code: ErrorCode): string {
  return ERROR_CODES[code].graphql;
}
