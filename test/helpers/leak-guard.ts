/**
 * Fails a test file that leaves a server, socket or child process open after its own afterAll
 * hooks ran. Node lists live handles by type; we compare counts at the start and end of the file.
 * (This hook is registered first, and vitest runs after-hooks in reverse, so it runs last.)
 */
import { afterAll, beforeAll } from "vitest";

const WATCHED = ["TCPServerWrap", "TCPSocketWrap", "ProcessWrap", "PipeWrap", "FSEventWrap"];

function counts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    if (WATCHED.includes(type)) m.set(type, (m.get(type) ?? 0) + 1);
  }
  return m;
}

let baseline = new Map<string, number>();

beforeAll(() => {
  baseline = counts();
});

afterAll(async () => {
  // Closed sockets and exited children are released on a later tick; give them a moment.
  let leaked: string[] = [];
  for (let i = 0; i < 40; i++) {
    const now = counts();
    leaked = [...now].filter(([t, n]) => n > (baseline.get(t) ?? 0)).map(([t, n]) => `${t} x${n - (baseline.get(t) ?? 0)}`);
    if (leaked.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`leak guard: this test file left open handles: ${leaked.join(", ")}`);
});
