/**
 * Turns schema.prisma into the SQL that creates it, with Prisma's own schema engine compiled to
 * WebAssembly (@prisma/schema-engine-wasm). The native schema-engine binary is downloaded at first
 * use from a host this project cannot reach; the wasm build ships inside the npm package.
 *
 * The wasm module is instantiated by hand: its entry file imports the .wasm as an ES module,
 * which Node 20 cannot load.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import * as bg from "@prisma/schema-engine-wasm/schema_engine_bg";

let ready: Promise<void> | null = null;

function init(): Promise<void> {
  return (ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg").replace(/\.js$/, ".wasm");
    const mod = await WebAssembly.compile(readFileSync(wasmPath));
    const imports: WebAssembly.Imports = {};
    for (const imp of WebAssembly.Module.imports(mod)) imports[imp.module] ??= bg as unknown as WebAssembly.ModuleImports;
    const instance = await WebAssembly.instantiate(mod, imports);
    (bg as unknown as { __wbg_set_wasm(e: unknown): void }).__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();
  })());
}

/**
 * The SQL that builds `schema` from an empty database. The engine insists on a live connection
 * even for this offline diff, so it is given one (`connectionString`), which it does not modify.
 */
export async function prismaSchemaToSql(schema: string, connectionString: string): Promise<string> {
  await init();
  const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPg({ connectionString }));
  const engine = await bg.SchemaEngine.new({ datamodels: [["schema.prisma", schema]] }, () => {}, adapter);
  try {
    const result = await engine.diff({
      from: { tag: "empty" },
      to: { tag: "schemaDatamodel", files: [{ path: "schema.prisma", content: schema }] },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return (result as { stdout?: string }).stdout ?? "";
  } finally {
    engine.free();
  }
}
