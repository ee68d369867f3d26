import { listAudit } from "@/lib/auth";
import { read, requirePage } from "../_lib/server";
import { AuditList } from "./audit-list";

export const dynamic = "force-dynamic";
export const metadata = { title: "Audit log" };

export default async function AuditPage() {
  const { ctx } = await requirePage("audit.read");
  const page = await read(ctx, "audit.read", () => listAudit(ctx.env.db, { limit: 50 }));
  return <AuditList initial={page} />;
}
