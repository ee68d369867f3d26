/**
 * Pull authentication (off by default) with a real client: skopeo follows Ferry's 401 challenge
 * to /v2/token with Basic credentials (a password, or an API token), and anonymous namespaces
 * stay open to everyone.
 */
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken, createUser } from "../../../lib/auth";
import { createPrismaClient, type Db } from "../../../lib/db";
import { FsStore } from "../../../lib/store";
import { ensureBuilt } from "../../../scripts/build-if-needed";
import { createTestDatabase, type TestDatabase } from "../../helpers/db";
import { startFerry, type FerryProcess } from "../../helpers/ferry-process";
import { storeImage, type StoredImage } from "../../helpers/store-images";

const run = promisify(execFile);
const SKOPEO = "/usr/bin/skopeo";

describe("pull authentication", () => {
  let tmp: string;
  let tdb: TestDatabase;
  let db: Db;
  let ferry: FerryProcess;
  let priv: StoredImage;
  let pub: StoredImage;
  let apiToken: string;

  beforeAll(async () => {
    await ensureBuilt(process.cwd(), () => {});
    tmp = await mkdtemp(path.join(os.tmpdir(), "ferry-pullauth-"));
    await chmod(tmp, 0o755);
    const storeRoot = path.join(tmp, "store");
    const store = await FsStore.open(storeRoot);
    priv = await storeImage(store, "private/app", "1");
    pub = await storeImage(store, "public/app", "1");
    tdb = await createTestDatabase();
    db = createPrismaClient(tdb.url);
    const user = await createUser(db, { username: "puller", password: "correct horse battery", role: "viewer" });
    apiToken = (await createApiToken(db, { userId: user.id, username: user.username, role: "viewer", via: "session" }, { name: "ci", role: "viewer" })).token;
    const configFile = path.join(tmp, "ferry.config.json");
    await writeFile(configFile, JSON.stringify({ pullAuth: { enabled: true, anonymous: ["public/**"] } }));
    ferry = await startFerry({ DATABASE_URL: tdb.url, FERRY_CONFIG: configFile, FERRY_STORE_DIR: storeRoot, FERRY_DATA_DIR: path.join(tmp, "data") });
  }, 600_000);

  afterAll(async () => {
    await ferry?.stop();
    await db?.$disconnect();
    await tdb?.drop();
    await rm(tmp, { recursive: true, force: true });
  });

  const host = () => ferry.url.replace("http://", "");
  const inspect = (ref: string, creds?: string) =>
    run(SKOPEO, ["inspect", "--raw", "--tls-verify=false", ...(creds ? ["--creds", creds] : ["--no-creds"]), `docker://${host()}/${ref}`]);

  it("challenges unauthenticated requests with the token realm", async () => {
    const res = await fetch(`${ferry.url}/v2/private/app/manifests/1`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="${ferry.url}/v2/token",service="ferry",scope="repository:private/app:pull"`);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe("UNAUTHORIZED");
  });

  it("lets skopeo pull with a password or an API token, and refuses wrong credentials", async () => {
    const withPassword = await inspect("private/app:1", "puller:correct horse battery");
    expect(JSON.parse(withPassword.stdout)).toEqual(JSON.parse(priv.bytes.toString()));
    const withToken = await inspect("private/app:1", `puller:${apiToken}`);
    expect(JSON.parse(withToken.stdout)).toEqual(JSON.parse(priv.bytes.toString()));
    await expect(inspect("private/app:1", "puller:wrong")).rejects.toMatchObject({ stderr: expect.stringMatching(/unauthorized|401|authentication required/i) });
    await expect(inspect("private/app:1")).rejects.toMatchObject({ stderr: expect.stringMatching(/unauthorized|401|authentication required|denied/i) });
  });

  it("keeps anonymous namespaces open", async () => {
    const anon = await inspect("public/app:1");
    expect(JSON.parse(anon.stdout)).toEqual(JSON.parse(pub.bytes.toString()));
    const plain = await fetch(`${ferry.url}/v2/public/app/manifests/1`);
    expect(plain.status).toBe(200);
  });

  it("rejects a forged or anonymous token for private repositories", async () => {
    const anonToken = (await (await fetch(`${ferry.url}/v2/token?scope=repository:private/app:pull`)).json()) as { token: string };
    const denied = await fetch(`${ferry.url}/v2/private/app/manifests/1`, { headers: { authorization: `Bearer ${anonToken.token}` } });
    expect(denied.status).toBe(403);
    const [payload] = anonToken.token.split(".");
    const forged = Buffer.from(JSON.stringify({ sub: "admin", anon: false, exp: 9_999_999_999 })).toString("base64url");
    const res = await fetch(`${ferry.url}/v2/private/app/manifests/1`, { headers: { authorization: `Bearer ${forged}.${anonToken.token.split(".")[1]}` } });
    expect(payload).not.toBe(forged);
    expect(res.status).toBe(401);
  });
});
