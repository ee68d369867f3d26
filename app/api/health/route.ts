/** Liveness: the process answers. No dependencies are checked here on purpose. */
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ status: "ok", uptimeSeconds: Math.round(process.uptime()) });
}
