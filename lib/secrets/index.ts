/**
 * lib/secrets — upstream credentials at rest: AES-256-GCM sealed boxes under a key from
 * FERRY_SECRET_KEY (or a generated dev key file). Secrets go in, and come out only to the code
 * that talks to the upstream; no API returns them and no log prints them.
 */
export { open, openJson, seal, sealJson } from "./aead";
export { decodeSecretKey, loadSecretKey, type SecretKey, type SecretKeySource } from "./key";
export { registrySecretAad, type RegistrySecret } from "./registry-secret";
