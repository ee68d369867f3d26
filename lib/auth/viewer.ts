import type { Role } from "./roles";

/**
 * Who is making a request, once authenticated. `role` is effective: for a token, the weaker of
 * the token's role and its owner's current role.
 */
export interface Viewer {
  userId: string;
  username: string;
  role: Role;
  via: "session" | "token";
  tokenId?: string;
  /** Hash of the session cookie (the row id), for logout. */
  sessionId?: string;
  /** The session's CSRF token, for `GET /api/v1/session`. */
  csrfToken?: string;
}

/** Where a request came from, for sessions and the audit log. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
}
