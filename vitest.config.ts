import { defineConfig } from "vitest/config";

/**
 * Two projects: `unit` (pure code, no services) and `integration` (real Postgres, real
 * docker-registry, real skopeo). Integration files share one Postgres started by the global
 * setup (embedded, or DATABASE_URL) and each gets its own database cloned from a migrated template.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          setupFiles: ["test/helpers/leak-guard.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/helpers/global-setup.ts"],
          setupFiles: ["test/helpers/leak-guard.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: "forks",
        },
      },
    ],
  },
});
