import { isAppError } from "../errors";

/** The OCI distribution error codes Ferry answers with. */
export type V2ErrorCode =
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "MANIFEST_UNKNOWN"
  | "BLOB_UNKNOWN"
  | "DIGEST_INVALID"
  | "TAG_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "TOOMANYREQUESTS"
  | "UNSUPPORTED"
  | "UNKNOWN";

export class V2Error extends Error {
  constructor(
    readonly status: number,
    readonly code: V2ErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

export function v2Body(err: V2Error): string {
  return JSON.stringify({ errors: [{ code: err.code, message: err.message, ...(err.detail === undefined ? {} : { detail: err.detail }) }] });
}

/**
 * Maps Ferry's errors to the OCI error format for one kind of request. `notFound` is the code
 * for a missing object of this route (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN).
 * Upstream failures keep their cause in the message: a client that gets 404 for an image that
 * exists upstream but could not be fetched deserves to know why.
 */
export function toV2Error(err: unknown, notFound: V2ErrorCode): V2Error {
  if (err instanceof V2Error) return err;
  if (isAppError(err)) {
    switch (err.code) {
      case "NOT_FOUND":
        return new V2Error(404, notFound, err.message);
      case "BAD_USER_INPUT": {
        const d = err.details ?? {};
        if ("digest" in d) return new V2Error(400, "DIGEST_INVALID", err.message);
        if ("tag" in d) return new V2Error(400, "TAG_INVALID", err.message);
        return new V2Error(400, "NAME_INVALID", err.message);
      }
      case "RATE_LIMITED":
        return new V2Error(429, "TOOMANYREQUESTS", err.message);
      case "UNAUTHENTICATED":
        return new V2Error(401, "UNAUTHORIZED", err.message);
      case "FORBIDDEN":
        return new V2Error(403, "DENIED", err.message);
      case "UPSTREAM_ERROR":
      case "UPSTREAM_TIMEOUT":
      case "DIGEST_MISMATCH":
        return new V2Error(502, "UNKNOWN", err.message);
      default:
        break;
    }
  }
  return new V2Error(500, "UNKNOWN", "internal error");
}
