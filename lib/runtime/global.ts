import { boot, type Runtime } from "./boot";

/**
 * The process-wide runtime. The custom server (server.ts) and Next's bundled route handlers load
 * separate copies of this module, so the runtime lives on globalThis under a registered symbol:
 * whoever boots first publishes it and everyone else finds it.
 */
const KEY = Symbol.for("ferry.runtime");
type Holder = { [KEY]?: Promise<Runtime> };

export function setRuntime(runtime: Promise<Runtime>): void {
  (globalThis as Holder)[KEY] = runtime;
}

/** The runtime, booting it on first use (e.g. under `next dev`, where server.ts is not used). */
export function getRuntime(): Promise<Runtime> {
  const holder = globalThis as Holder;
  return (holder[KEY] ??= boot());
}
