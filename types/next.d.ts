// Next.js ambient types (CSS imports, images) for type-checking before the first `next build`,
// which is when Next writes next-env.d.ts.
/// <reference types="next" />
/// <reference types="next/image-types/global" />
