#!/usr/bin/env node
// `prisma generate` without the network. Prisma's CLI insists on resolving a schema-engine binary
// before running any command, and downloads one when missing; generate never uses it, so we point
// PRISMA_SCHEMA_ENGINE_BINARY at an existing file (this script) to skip the download.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? self,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  CHECKPOINT_DISABLE: "1",
};
const r = spawnSync("npx", ["--no-install", "prisma", "generate"], { stdio: "inherit", env });
process.exit(r.status ?? 1);
