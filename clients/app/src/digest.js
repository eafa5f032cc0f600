// Verify's digests (docs/protocol.md, section 10), with the platform's SHA-256 (WebCrypto, in
// browsers and in Node alike).

import { bytesToHex, hexToBytes, uuidToBytes } from "./wire.js";

/** The SHA-256 of `bytes` (a buffer or a view). */
export async function sha256(bytes) {
  return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A document's heads digest: SHA-256 of its heads' bytes, sorted, concatenated (hex in, hex out). */
export async function headsDigest(heads) {
  const sorted = heads.map(hexToBytes).sort(compareBytes);
  return bytesToHex(await sha256(concat(sorted)));
}

/**
 * The scope digest of `docs` ([{id, heads}]): SHA-256 of each document's id bytes and heads digest,
 * in ascending order of the ids' bytes.
 */
export async function scopeDigest(docs) {
  const entries = await Promise.all(
    docs.map(async ({ id, heads }) => [uuidToBytes(id), hexToBytes(await headsDigest(heads))]),
  );
  entries.sort(([a], [b]) => compareBytes(a, b));
  return bytesToHex(await sha256(concat(entries.flat())));
}
