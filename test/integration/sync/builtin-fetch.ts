/**
 * Import first in a test file that pushes with test/helpers/images.ts. Node 20's built-in fetch
 * sends through whatever global dispatcher exists when it first runs; if the npm `undici` (v7,
 * loaded by lib/oci) registered its Agent first, that Agent refuses the explicit `content-length`
 * header pushBlob sends ("invalid content-length header"). One built-in fetch before anything
 * loads npm undici installs the built-in dispatcher, and npm undici then leaves it alone.
 * (The real fix is for pushBlob to drop the header; this keeps the tests independent of import order.)
 */
await (await fetch("data:,ferry")).text();

export {};
