// Prisma CLI configuration. Ferry applies migrations itself (lib/db/migrate.ts), so the CLI is
// only used for `prisma generate`, which needs no database.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
