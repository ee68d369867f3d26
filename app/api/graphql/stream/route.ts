import { createHandler } from "graphql-sse/lib/use/fetch";
import { specifiedRules, validate } from "graphql";
import { contextFor, type GraphQLContext } from "@/graphql/context";
import { limitsRule } from "@/graphql/limits";
import { getSchema } from "@/graphql/schema";
import { getApiEnv, problemResponse } from "@/lib/api";

/**
 * GraphQL subscriptions over Server-Sent Events (graphql-sse, same schema as /api/graphql), fed
 * by the scheduler's LISTEN/NOTIFY. Credentials are checked before the stream opens: without
 * them the answer is a 401 problem, not an open stream.
 */
export const dynamic = "force-dynamic";

type SseContext = GraphQLContext & Record<PropertyKey, unknown>;
const contexts = new WeakMap<Request, SseContext>();

type Handler = (req: Request) => Promise<Response>;
const KEY = Symbol.for("ferry.graphql-sse-handler");
type Holder = { [KEY]?: Handler };

function handler(): Handler {
  const holder = globalThis as Holder;
  return (holder[KEY] ??= createHandler<SseContext>({
    schema: getSchema(),
    validate: (schema, document) => validate(schema, document, [...specifiedRules, limitsRule]),
    context: (req) => contexts.get(req.raw)!,
  }));
}

async function serve(req: Request): Promise<Response> {
  try {
    contexts.set(req, (await contextFor(req)) as SseContext);
  } catch (err) {
    const code = (err as { extensions?: { ferryCode?: string } }).extensions?.ferryCode;
    const env = await getApiEnv();
    const appErr = code ? Object.assign(new Error((err as Error).message), { name: "AppError", code }) : err;
    return problemResponse(appErr, new URL(req.url).pathname, (e) => env.log.error({ err: e }, "graphql stream failed"));
  }
  return handler()(req);
}

export const GET = serve;
export const POST = serve;
export const PUT = serve;
export const DELETE = serve;
