import { handleRest } from "@/lib/api";

/**
 * The REST API. One catch-all: the route table in lib/api/rest/routes.ts is the router and the
 * OpenAPI document at once, so a route cannot exist without being documented (or the reverse).
 */
export const dynamic = "force-dynamic";

export const GET = handleRest;
export const HEAD = handleRest;
export const POST = handleRest;
export const PUT = handleRest;
export const PATCH = handleRest;
export const DELETE = handleRest;
