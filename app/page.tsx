import { generators, listRegistries, listTasks, storeTotals, syncHistory } from "@/lib/api";
import { read, requirePage } from "./_lib/server";
import { Overview } from "./overview";

export const dynamic = "force-dynamic";
export const metadata = { title: "Overview" };

export default async function Home({ searchParams }: { searchParams: Promise<{ forbidden?: string }> }) {
  const { ctx, perms } = await requirePage();
  const [gens, regs, totals, history, running] = await Promise.all([
    read(ctx, "generator.read", () => generators(ctx.env)),
    read(ctx, "registry.read", () => listRegistries(ctx.env.db)),
    read(ctx, "repository.read", () => storeTotals(ctx.env)),
    read(ctx, "task.read", () => syncHistory(ctx.env, "24h")),
    read(ctx, "task.read", () => listTasks(ctx.env, { status: ["running"], limit: 100 })),
  ]);
  const { forbidden } = await searchParams;
  return (
    <>
      {forbidden ? (
        <p role="alert" className="banner warn">
          That page needs a stronger role than yours.
        </p>
      ) : null}
      <Overview initial={{ generators: gens, registries: regs.map((r) => ({ name: r.name, enabled: r.enabled, urls: (r.config.urls as string[] | undefined) ?? [] })), totals, history, running: running.items }} perms={perms} />
    </>
  );
}
