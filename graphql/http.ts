import { ApolloServer, HeaderMap, type HTTPGraphQLResponse } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled } from "@apollo/server/plugin/disabled";
import { specifiedRules, validate } from "graphql";
import { createHandler } from "graphql-sse/lib/use/fetch";
import { getApiEnv, problemResponse } from "@/lib/api";
import { AppError, isAppError } from "@/lib/errors";
import { contextFor, type GraphQLContext } from "./context";
import { formatError, toGraphQLError } from "./errors";
import { limitsRule, MAX_TOKENS } from "./limits";
import { getSchema } from "./schema";

/**
 * GraphQL over HTTP as fetch handlers (`Request` in, `Response` out): `/api/graphql` (Apollo
 * Server 5) and `/api/graphql/stream` (graphql-sse subscriptions). The Next routes export these,
 * and Ferry's own HTTP server (server.ts) calls them directly, so there is one code path.
 *
 * Credentials are checked in the context function, so a request without them is 401 before it is
 * parsed; depth/size limits run as a validation rule and the lexer stops at MAX_TOKENS.
 */

/** A GraphQL body above this is refused unread (a MAX_TOKENS document is far smaller). */
const MAX_BODY_BYTES = 1024 * 1024;

const APOLLO = Symbol.for("ferry.graphql-apollo");
const SSE = Symbol.for("ferry.graphql-sse-handler");
type Holder = { [APOLLO]?: ApolloServer<GraphQLContext>; [SSE]?: (req: Request) => Promise<Response> };

/** One Apollo Server per process (on globalThis: Next's bundle and server.ts load their own module copies). */
function apollo(): ApolloServer<GraphQLContext> {
  const holder = globalThis as Holder;
  if (!holder[APOLLO]) {
    const server = new ApolloServer<GraphQLContext>({
      schema: getSchema(),
      validationRules: [limitsRule],
      parseOptions: { maxTokens: MAX_TOKENS },
      introspection: true,
      includeStacktraceInErrorResponses: false,
      // Nothing here is HTTP-cacheable (every answer depends on who asks), and the default cache
      // control plugin wraps every field resolver to compute hints: measurable per request.
      plugins: [ApolloServerPluginCacheControlDisabled()],
      formatError: (formatted, error) => formatError(formatted, error, (err) => console.error("graphql resolver failed", err)),
    });
    server.startInBackgroundHandlingStartupErrorsByLoggingAndFailingAllRequests();
    holder[APOLLO] = server;
  }
  return holder[APOLLO];
}

/** A GraphQL error response for a request that never reached Apollo (unreadable body). */
function errorResponse(err: AppError, status: number): Response {
  const e = toGraphQLError(err);
  return Response.json({ errors: [{ message: e.message, extensions: { code: e.extensions.code, ferryCode: err.code } }] }, { status });
}

async function readBody(request: Request): Promise<unknown> {
  if (request.method === "GET" || request.method === "HEAD") return undefined;
  if (Number(request.headers.get("content-length") ?? "0") > MAX_BODY_BYTES) throw new AppError("PAYLOAD_TOO_LARGE", `GraphQL bodies are limited to ${MAX_BODY_BYTES} bytes`);
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new AppError("PAYLOAD_TOO_LARGE", `GraphQL bodies are limited to ${MAX_BODY_BYTES} bytes`);
  // Apollo wants a parsed object for JSON and decides itself what other content types mean.
  if (!/^application\/json\b/i.test(request.headers.get("content-type") ?? "")) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError("BAD_USER_INPUT", "the body is not valid JSON");
  }
}

function toResponse(r: HTTPGraphQLResponse): Response {
  const headers = new Headers();
  for (const [k, v] of r.headers) headers.set(k, v);
  const init = { status: r.status ?? 200, headers };
  if (r.body.kind === "complete") return new Response(r.body.string, init);
  const it = r.body.asyncIterator;
  return new Response(
    new ReadableStream<string>({
      async pull(controller) {
        const { value, done } = await it.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel() {
        await it.return?.();
      },
    }).pipeThrough(new TextEncoderStream()),
    init,
  );
}

/** `GET|POST /api/graphql`. */
export async function handleGraphQL(request: Request): Promise<Response> {
  let body: unknown;
  try {
    body = await readBody(request);
  } catch (err) {
    if (isAppError(err)) return errorResponse(err, err.code === "PAYLOAD_TOO_LARGE" ? 413 : 400);
    throw err;
  }
  const headers = new HeaderMap();
  request.headers.forEach((v, k) => headers.set(k, v));
  const url = request.url;
  const q = url.indexOf("?");
  const result = await apollo().executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: request.method, headers, search: q >= 0 ? url.slice(q) : "", body },
    context: () => contextFor(request),
  });
  return toResponse(result);
}

type SseContext = GraphQLContext & Record<PropertyKey, unknown>;
const sseContexts = new WeakMap<Request, SseContext>();

function sseHandler(): (req: Request) => Promise<Response> {
  const holder = globalThis as Holder;
  return (holder[SSE] ??= createHandler<SseContext>({
    schema: getSchema(),
    validate: (schema, document) => validate(schema, document, [...specifiedRules, limitsRule]),
    context: (req) => sseContexts.get(req.raw)!,
  }));
}

/**
 * `/api/graphql/stream`: subscriptions over Server-Sent Events (graphql-sse, same schema), fed by
 * the scheduler's LISTEN/NOTIFY. Credentials are checked before the stream opens: without them
 * the answer is a 401 problem, not an open stream.
 */
export async function handleGraphQLStream(request: Request): Promise<Response> {
  try {
    sseContexts.set(request, (await contextFor(request)) as SseContext);
  } catch (err) {
    const code = (err as { extensions?: { ferryCode?: string } }).extensions?.ferryCode;
    const env = await getApiEnv();
    const appErr = code ? Object.assign(new Error((err as Error).message), { name: "AppError", code }) : err;
    return problemResponse(appErr, new URL(request.url).pathname, (e) => env.log.error({ err: e }, "graphql stream failed"));
  }
  return sseHandler()(request);
}
