import { notFound } from "next/navigation";
import { getTaskView } from "@/lib/api";
import { read, requirePage } from "../../_lib/server";
import { TaskView } from "./task-view";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }) {
  return { title: `Task #${(await params).id}` };
}

export default async function TaskPage({ params }: { params: Promise<{ id: string }> }) {
  const { ctx, perms } = await requirePage("task.read");
  const { id } = await params;
  const task = await read(ctx, "task.read", () => getTaskView(ctx.env, id)).catch((err: { code?: string }) => {
    if (err.code === "NOT_FOUND") notFound();
    throw err;
  });
  return <TaskView initial={task} perms={perms} />;
}
