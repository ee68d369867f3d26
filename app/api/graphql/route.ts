import { ApolloServer } from "@apollo/server";
import { startServerAndCreateNextHandler } from "@as-integrations/next";
import type { NextRequest } from "next/server";
import { contextFor, type GraphQLContext } from "@/graphql/context";
import { formatError } from "@/graphql/errors";
import { limitsRule, MAX_TOKENS } from "@/graphql/limits";
import { getSchema } from "@/graphql/schema";

/**
 * GraphQL over HTTP (Apollo Server 5). Credentials are checked in the context function, so a
 * request without them is 401 before it is parsed; depth/size limits run as a validation rule
 * and the lexer stops at MAX_TOKENS. Subscriptions are served by ./stream (graphql-sse).
 */
export const dynamic = "force-dynamic";

type Handler = (req: NextRequest) => Promise<Response>;
const KEY = Symbol.for("ferry.graphql-handler");
type Holder = { [KEY]?: Handler };

function handler(): Handler {
  const holder = globalThis as Holder;
  if (!holder[KEY]) {
    const server = new ApolloServer<GraphQLContext>({
      schema: getSchema(),
      validationRules: [limitsRule],
      parseOptions: { maxTokens: MAX_TOKENS },
      introspection: true,
      includeStacktraceInErrorResponses: false,
      formatError: (formatted, error) => formatError(formatted, error, (err) => console.error("graphql resolver failed", err)),
    });
    holder[KEY] = startServerAndCreateNextHandler<NextRequest, GraphQLContext>(server, { context: (req) => contextFor(req) });
  }
  return holder[KEY];
}

export async function GET(req: NextRequest): Promise<Response> {
  return handler()(req);
}

export async function POST(req: NextRequest): Promise<Response> {
  return handler()(req);
}
