// Calls to the server: login as JSON, the sync calls as MessagePack. Sync calls are retried on the
// network's failures, 408, 429 and 5xx, with backoff and full jitter, or after the whole
// `Retry-After` the server asks for, as the Rust SDK does (docs/protocol.md, section 1.6).

import { CONTENT_TYPE, PROTOCOL_VERSION, decode, encode } from "./wire.js";

export const APP_VERSION = "fieldsync-app/0.1.0";

export class ServerError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? "http_error";
    this.wipe = error?.wipe === true;
  }
}

const transient = (status) => status === 408 || status === 429 || status >= 500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not the server's error shape (a proxy's page): the status says enough.
  }
  return new ServerError(response.status, body?.error);
}

export async function login(email, password, previous) {
  const body = {
    email,
    password,
    device_name: `fieldsync app (${navigator.userAgent.slice(0, 60)})`,
  };
  if (previous) {
    body.previous_device_id = previous.device_id;
    body.device_secret = previous.device_secret;
  }
  const response = await fetch("../v1/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/**
 * `fetch` with retries on the network's failures, 408, 429 and 5xx (backoff with full jitter, or
 * the whole `Retry-After` the server asks for, at most 2 minutes). Answers the response when
 * `accept` takes it (by default, any 2xx); throws the ServerError of any other.
 */
export async function request(url, init, accept = (r) => r.ok) {
  const attempts = 5;
  for (let attempt = 1; ; attempt++) {
    let retryAfter = null;
    let failure;
    try {
      const response = await fetch(url, init);
      if (accept(response)) return response;
      failure = await errorOf(response);
      if (!transient(response.status)) throw failure;
      const header = Number(response.headers.get("retry-after"));
      if (Number.isFinite(header) && header > 0) retryAfter = Math.min(header, 120) * 1000;
    } catch (e) {
      // fetch rejects with a TypeError when the network fails: worth another try. A refusal or a
      // reply that does not decode would fail the same way again.
      if (!(e instanceof TypeError)) throw e;
      failure = e;
    }
    if (attempt >= attempts) throw failure;
    const ceiling = Math.min(200 * 2 ** attempt, 10_000);
    await sleep(retryAfter ?? Math.random() * ceiling);
  }
}

/**
 * A sync call (`push`, `pull`, `verify`): `request` of type `requestType` in, a decoded
 * `responseType` out. `outbox` is the count of changes waiting, told the server for the managers'
 * sync-health report.
 */
export async function sync(session, path, requestType, body, responseType, outbox) {
  const response = await request(`../v1/sync/${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${session.token}`,
      "content-type": CONTENT_TYPE,
      accept: CONTENT_TYPE,
      "fieldsync-protocol": String(PROTOCOL_VERSION),
      "fieldsync-outbox": String(outbox),
      "fieldsync-app-version": APP_VERSION,
    },
    body: encode(requestType, body),
  });
  return decode(responseType, new Uint8Array(await response.arrayBuffer()));
}

export async function schema(session) {
  const response = await fetch("../v1/schema", {
    headers: { authorization: `Bearer ${session.token}` },
  });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}
