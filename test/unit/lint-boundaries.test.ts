/**
 * The import boundaries are enforced by ESLint (eslint.config.mjs); this proves the rule bites, so
 * that a config edit cannot silently turn it off.
 */
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const eslint = new ESLint();

async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("import boundaries", () => {
  it("keeps lib/ free of Next.js, GraphQL and app/", async () => {
    expect(await restricted("lib/sync/x.ts", `import next from "next";\nexport const a = next;\n`)).not.toEqual([]);
    expect(await restricted("lib/sync/x.ts", `import { parse } from "graphql";\nexport const a = parse;\n`)).not.toEqual([]);
    expect(await restricted("lib/sync/x.ts", `import { GET } from "../../app/api/health/route";\nexport const a = GET;\n`)).not.toEqual([]);
  });

  it("keeps lib/oci and lib/store free of database code", async () => {
    expect(await restricted("lib/oci/x.ts", `import { createPrismaClient } from "../db";\nexport const a = createPrismaClient;\n`)).not.toEqual([]);
    expect(await restricted("lib/store/x.ts", `import pg from "pg";\nexport const a = pg;\n`)).not.toEqual([]);
    expect(await restricted("lib/store/x.ts", `import { mapLimit } from "../sync/limit";\nexport const a = mapLimit;\n`)).not.toEqual([]);
    expect(await restricted("lib/oci/x.ts", `import { startMirror } from "../mirror";\nexport const a = startMirror;\n`)).not.toEqual([]);
  });

  it("allows what the architecture allows", async () => {
    expect(await restricted("lib/sync/x.ts", `import { createPrismaClient } from "../db";\nexport const a = createPrismaClient;\n`)).toEqual([]);
    expect(await restricted("lib/store/x.ts", `import { mapLimit } from "../concurrency";\nexport const a = mapLimit;\n`)).toEqual([]);
    expect(await restricted("app/api/x/route.ts", `import { getRuntime } from "@/lib/runtime";\nexport const a = getRuntime;\n`)).toEqual([]);
  });
});
