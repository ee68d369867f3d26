import { listApiTokens, listUsers } from "@/lib/auth";
import { read, requirePage } from "../_lib/server";
import { UsersAdmin } from "./users-admin";

export const dynamic = "force-dynamic";
export const metadata = { title: "Users and API tokens" };

export default async function UsersPage() {
  const { ctx, viewer } = await requirePage("user.read");
  const [users, tokens] = await Promise.all([read(ctx, "user.read", () => listUsers(ctx.env.db)), read(ctx, "token.read", () => listApiTokens(ctx.env.db))]);
  return <UsersAdmin users={users} tokens={tokens} me={viewer.username} />;
}
