import { httpStatusOf, toPublicError, type ErrorCode } from "../../errors";

const TITLES: Partial<Record<ErrorCode, string>> = {
  BAD_USER_INPUT: "Bad request",
  CONFIG_INVALID: "Invalid registry configuration",
  UNAUTHENTICATED: "Authentication required",
  FORBIDDEN: "Forbidden",
  CSRF_REJECTED: "CSRF check failed",
  NOT_FOUND: "Not found",
  CONFLICT: "Conflict",
  RATE_LIMITED: "Too many requests",
  METHOD_NOT_ALLOWED: "Method not allowed",
  PAYLOAD_TOO_LARGE: "Payload too large",
  UNSUPPORTED_MEDIA_TYPE: "Unsupported media type",
};

/**
 * The one place REST errors become RFC 9457 problem details. The status comes from the shared
 * error table; unknown errors are logged and shown as INTERNAL only (`toPublicError`). Field
 * issues (zod or registry-config validation) are lifted into `issues`.
 */
export function problemResponse(err: unknown, instance: string, log: (err: unknown) => void, headers?: Record<string, string>): Response {
  const pub = toPublicError(err, log);
  const status = httpStatusOf(pub.code);
  const { issues, ...details } = (pub.details ?? {}) as { issues?: unknown };
  const body = {
    type: `urn:ferry:error:${pub.code.toLowerCase().replace(/_/g, "-")}`,
    title: TITLES[pub.code] ?? pub.code.toLowerCase().replace(/_/g, " "),
    status,
    detail: pub.message,
    code: pub.code,
    instance,
    ...(Array.isArray(issues) ? { issues } : {}),
    ...(Object.keys(details).length ? { details } : {}),
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store", ...(status === 401 ? { "www-authenticate": 'Bearer realm="ferry"' } : {}), ...headers },
  });
}
