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

/** A file as the phone keeps it until the upload: `{hash, blob, size}`. */
export async function capture(blob) {
  const hash = bytesToHex(await sha256(await blob.arrayBuffer()));
  return { hash, blob, size: blob.size };
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
