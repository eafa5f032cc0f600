// Photos taken on the phone: named by their SHA-256, kept in IndexedDB with the record that
// references them, and uploaded after each sync's documents over tus 1.0.0 (docs/attachments.md),
// resumably from wherever the server's copy stopped. A file the server refuses stays on the phone
// with the reason.
//
// Not tus-js-client: it keeps its resume state in localStorage, apart from the file in IndexedDB,
// and knows nothing of this server's rule for an upload gone missing (ask whether the file is held
// before starting again); the protocol's four requests are shorter than adapting it.

import { request, ServerError } from "./api.js";
import { sha256 } from "./digest.js";
import * as store from "./store.js";
import { bytesToHex } from "./wire.js";

/** The bytes of one PATCH, as the SDK sends them. */
const PIECE_BYTES = 4 << 20;

const TUS = { "tus-resumable": "1.0.0" };

/**
 * The longest side, in pixels, a photo keeps: a shelf's labels and a receipt's figures stay
 * legible, and a phone camera's 4000-pixel picture of several megabytes goes up over a weak signal
 * as a few hundred kilobytes.
 */
export const MAX_SIDE = 2048;
/** A picture no wider than `MAX_SIDE` and no larger than this is kept as taken. */
const KEEP_BYTES = 1 << 20;

/**
 * A file as the phone keeps it until the upload: `{hash, blob, size}`. A picture is first made
 * smaller (`downscaled`), and named by what is kept.
 */
export async function capture(blob) {
  const kept = await downscaled(blob);
  const hash = bytesToHex(await sha256(await kept.arrayBuffer()));
  return { hash, blob: kept, size: kept.size };
}

/**
 * A picture wider or taller than `MAX_SIDE` scaled down to it, as a JPEG; one within it but larger
 * than `KEEP_BYTES` encoded again as a JPEG where that is smaller; anything else as it is. The
 * browser does it in three calls (`createImageBitmap` decodes and turns by the camera's EXIF
 * orientation, an `OffscreenCanvas` scales and encodes), so no library is loaded for it. A file
 * that does not decode goes as it is, for the server to refuse with its reason.
 */
async function downscaled(blob) {
  const supported = typeof createImageBitmap === "function" && typeof OffscreenCanvas === "function";
  if (!supported || !/^image\/(jpeg|png|webp)$/.test(blob.type)) return blob;
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  } catch {
    return blob;
  }
  try {
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && blob.size <= KEEP_BYTES) return blob;
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d");
    // A transparent PNG's background becomes white rather than JPEG's black.
    context.fillStyle = "#fff";
    context.fillRect(0, 0, width, height);
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, width, height);
    const jpeg = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.85 });
    return scale < 1 || jpeg.size < blob.size ? jpeg : blob;
  } finally {
    bitmap.close();
  }
}

const auth = (session) => ({ authorization: `Bearer ${session.token}`, ...TUS });

/** Whether the server holds the file (after its upload went missing). */
async function held(session, hash) {
  const response = await request(`../v1/attachments/${hash}`, { headers: { ...auth(session), range: "bytes=0-0" } }, (r) => r.ok || r.status === 404);
  return response.ok;
}

/** The offset the server holds of the upload at `location`, or null when it is gone. */
async function offsetAt(session, location) {
  const response = await request(location, { method: "HEAD", headers: auth(session) }, (r) => r.ok || r.status === 404);
  return response.ok ? Number(response.headers.get("upload-offset")) : null;
}

async function create(session, file) {
  const response = await request("../v1/uploads", {
    method: "POST",
    headers: { ...auth(session), "upload-length": String(file.size), "upload-metadata": `sha256 ${btoa(file.hash)}` },
  });
  return new URL(response.headers.get("location"), response.url).href;
}

/** Uploads one file, going on from where the server's copy stopped. */
async function upload(db, session, file) {
  let offset = file.location ? await offsetAt(session, file.location) : null;
  if (offset === null && file.location && (await held(session, file.hash))) return;
  let location = file.location;
  if (offset === null) {
    location = await create(session, file);
    offset = 0;
    // Kept before any byte goes, so the next sync resumes this upload rather than starting one.
    await store.putFile(db, { ...file, location });
  }
  while (offset < file.size) {
    const piece = file.blob.slice(offset, Math.min(offset + PIECE_BYTES, file.size));
    const response = await request(location, {
      method: "PATCH",
      headers: { ...auth(session), "content-type": "application/offset+octet-stream", "upload-offset": String(offset) },
      body: piece,
    });
    offset = Number(response.headers.get("upload-offset"));
  }
}

/**
 * Uploads every file waiting that the server has not refused. A refusal is kept with the file;
 * a network failure ends the uploads until the next sync. Answers how many went.
 */
export async function uploadAll(db, session) {
  let uploaded = 0;
  for (const file of await store.files(db)) {
    if (file.refused) continue;
    try {
      await upload(db, session, file);
      await store.deleteFile(db, file.hash);
      uploaded++;
    } catch (e) {
      if (!(e instanceof ServerError) || e.status >= 500 || [401, 408, 429].includes(e.status)) throw e;
      // The upload went missing or moved on (404, 409 offset_mismatch): the next sync asks again.
      if (e.status === 404 || e.status === 409) continue;
      // Too large, not a photo, not the bytes it was named for: kept, with the server's reason.
      await store.putFile(db, { ...file, location: null, refused: { code: e.code, message: e.message } });
    }
  }
  return uploaded;
}
