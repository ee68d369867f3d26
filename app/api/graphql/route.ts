import { handleGraphQL } from "@/graphql/http";

/**
 * GraphQL over HTTP (Apollo Server 5), see graphql/http.ts. Ferry's own server (server.ts) serves
 * this path with the same handler before Next sees it; this route answers under `next dev`/`next
 * start` without server.ts. Subscriptions are served by ./stream (graphql-sse).
 */
export const dynamic = "force-dynamic";

export const GET = handleGraphQL;
export const POST = handleGraphQL;
