import { checkReadiness, getRuntime } from "@/lib/runtime";

/** Readiness: the database answers and all migrations are applied. 503 otherwise. */
export const dynamic = "force-dynamic";

export async function GET() {
  const readiness = await checkReadiness(await getRuntime());
  return Response.json({ status: readiness.ready ? "ready" : "not-ready", ...readiness }, { status: readiness.ready ? 200 : 503 });
}
