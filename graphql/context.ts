import { GraphQLError } from "graphql";
import { getApiEnv, type CallContext } from "@/lib/api";
import { authenticate, requestMeta } from "@/lib/auth";
import { AppError, graphqlCodeOf, httpStatusOf, isAppError } from "@/lib/errors";

/** A GraphQL request's context: the API call context, plus the client's abort signal (subscriptions). */
export type GraphQLContext = CallContext & { signal?: AbortSignal };

/**
 * Builds the context for one GraphQL request. No credentials (or bad ones) fail the whole
 * request with 401 before anything is parsed or run; a failed CSRF check with 403. Public
 * GraphQL does not exist: signing in is REST (`POST /api/v1/session`).
 */
export async function contextFor(request: Request): Promise<GraphQLContext> {
  const env = await getApiEnv();
  try {
    const viewer = await authenticate(env.db, request);
    if (!viewer) throw new AppError("UNAUTHENTICATED", "sign in or send an API token (Authorization: Bearer)");
    return { env, viewer, meta: requestMeta(request.headers), signal: request.signal };
  } catch (err) {
    if (!isAppError(err)) throw err;
    throw new GraphQLError(err.message, { extensions: { code: graphqlCodeOf(err.code), ferryCode: err.code, http: { status: httpStatusOf(err.code) } } });
  }
}
