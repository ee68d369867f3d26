import { handleGraphQLStream } from "@/graphql/http";

/** GraphQL subscriptions over Server-Sent Events (graphql-sse), see graphql/http.ts. */
export const dynamic = "force-dynamic";

export const GET = handleGraphQLStream;
export const POST = handleGraphQLStream;
export const PUT = handleGraphQLStream;
export const DELETE = handleGraphQLStream;
