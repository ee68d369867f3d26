import { listRegistries, listTasks, schemas } from "@/lib/api";
import { read, requirePage } from "../_lib/server";
import { TaskList, type TaskFilters } from "./task-list";

export const dynamic = "force-dynamic";
export const metadata = { title: "Tasks" };

type SP = Record<string, string | string[] | undefined>;
const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) || undefined;

export default async function TasksPage({ searchParams }: { searchParams: Promise<SP> }) {
  const { ctx, perms } = await requirePage("task.read");
  const sp = await searchParams;
  const filters: TaskFilters = { registry: one(sp.registry), status: one(sp.status), kind: one(sp.kind), repository: one(sp.repository), since: one(sp.since), until: one(sp.until) };
  // Invalid filters from a hand-edited URL: show them, let the client report the API's message.
  const parsed = schemas.taskQuerySchema.safeParse(Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)));
  const [regs, first] = await Promise.all([
    read(ctx, "registry.read", () => listRegistries(ctx.env.db)),
    parsed.success ? read(ctx, "task.read", () => listTasks(ctx.env, parsed.data)).catch(() => null) : Promise.resolve(null),
  ]);
  return <TaskList registries={regs.map((r) => r.name)} filters={filters} initial={first} perms={perms} />;
}
