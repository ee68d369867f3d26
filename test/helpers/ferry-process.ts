/**
 * Runs Ferry as a real child process (`node --import tsx server.ts`: what `npm start` runs, in one process, so a signal reaches Ferry itself) for tests that
 * cross the process boundary: start-up, shutdown, two processes on one database.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { freePort } from "../../lib/db/embedded";

export interface FerryProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}


/** Env for a child Ferry: the test's env without DATABASE_URL unless given, plus `env`. */
export function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", FERRY_LOG_LEVEL: "warn" };
  delete base.DATABASE_URL;
  for (const k of Object.keys(base)) if (k.startsWith("FERRY_") && !(k in env) && k !== "FERRY_LOG_LEVEL") delete base[k];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node scripts/ferry.mjs …` as a child process (the CLI), with the test environment. */
export function ferryCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["scripts/ferry.mjs", ...args], { env: childEnv(env), timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export function runFerry(env: Record<string, string | undefined>, args: string[] = [], as?: { uid: number; gid: number }): { child: ChildProcess; output(): string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", "server.ts", ...args], { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"], ...as });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export async function startFerry(env: Record<string, string | undefined>, timeoutMs = 90_000, as?: { uid: number; gid: number }): Promise<FerryProcess> {
  const port = await freePort();
  const run = runFerry({ FERRY_PORT: String(port), FERRY_HOST: "127.0.0.1", ...env }, ["--no-build"], as);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void run.exited.then((c) => (exitCode = c));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`ferry exited with ${exitCode}: ${run.output()}`);
    try {
      const res = await fetch(`${url}/api/ready`);
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (Date.now() >= deadline) {
    run.child.kill("SIGKILL");
    await run.exited;
    throw new Error(`ferry not ready within ${timeoutMs} ms: ${run.output()}`);
  }
  return {
    url,
    port,
    child: run.child,
    output: run.output,
    stop: async (signal = "SIGTERM") => {
      if (run.child.exitCode === null) run.child.kill(signal);
      return run.exited;
    },
  };
}
