#!/usr/bin/env node
// The `ferry` command (package bin): runs the TypeScript CLI through tsx, in this process.
import { register } from "tsx/esm/api";

register();
await import(new URL("./cli/index.ts", import.meta.url).href);
