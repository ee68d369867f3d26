import type { z } from "zod";
import type { Action } from "../../auth";
import type { CallContext } from "../perform";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** A handler's answer when it needs more than a JSON body with the route's status. */
export class Reply {
  constructor(
    readonly body: unknown,
    readonly init: { status?: number; headers?: Record<string, string> } = {},
  ) {}
}

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  request: Request;
}

/**
 * One REST operation. The table of these is the router, the OpenAPI document and the audit
 * vocabulary at once. `action` is checked with lib/auth before the input is even parsed, so a
 * viewer's mutation is 403 whatever it sends; `public` routes handle credentials themselves.
 */
export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: Method;
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  action: Action | "public";
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Request headers the operation reads (documented as OpenAPI header parameters, all optional). */
  headers?: Array<{ name: string; description: string }>;
  /** Error statuses beyond the common ones (400, 401, 403, 404, 409), with what they mean here. */
  errors?: Record<string, string>;
  /** Success status (200 unless given). */
  status?: number;
  response: z.ZodType;
  /** What the audit log names as the target. */
  target?: (input: { params: P; body: B }) => string | null;
  handler(ctx: CallContext, input: RouteInput<P, Q, B>): Promise<unknown>;
}

/** Keeps each route's param/query/body types tied to its schemas. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined>(def: RouteDef<P, Q, B>): RouteDef {
  return def as unknown as RouteDef;
}
