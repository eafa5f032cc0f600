// The sync bodies (push, pull, verify) in MessagePack, byte for byte as the server writes them
// (docs/protocol.md, sections 2 and 3): maps keyed by field name in the order below, UUIDs as bin
// of 16 bytes, hashes as bin of 32, changes, chunks and cursors as bin, a `None` as nil except
// where a field is left out.
//
// In the app, a message is a plain object: UUIDs as lowercase hyphenated strings, hashes as
// lowercase hex, byte strings as Uint8Array. @msgpack/msgpack does the encoding; the table of each
// message's fields is here because a generic encoder cannot know which strings travel as bytes.

import { decode as decodeMsgpack, encode as encodeMsgpack } from "@msgpack/msgpack";

export const CONTENT_TYPE = "application/vnd.fieldsync.v1+msgpack";
export const PROTOCOL_VERSION = 1;

// Field types. `omit` fields are left out when unset (or, for lists, empty); `nil` fields are
// sent as nil when unset.
const uuid = { t: "uuid" };
const hash = { t: "hash" };
const bytes = { t: "bytes" };
const str = { t: "str" };
const int = { t: "int" };
const bool = { t: "bool" };
const list = (of) => ({ t: "list", of });
const struct = (name) => ({ t: "struct", name });
const nil = (of) => ({ ...of, unset: "nil" });
const omit = (of) => ({ ...of, unset: "omit" });
const omitEmpty = (of) => ({ ...of, unset: "omit_empty" });

const STRUCTS = {
  PushRequest: [["docs", list(struct("DocPush"))], ["checkpoint", int]],
  DocPush: [
    ["id", uuid],
    ["kind", str],
    ["base_heads", list(hash)],
    ["changes", list(bytes)],
    ["group", omit(uuid)],
  ],
  PushResponse: [["results", list(struct("DocResult"))], ["seq", int]],
  DocResult: [
    ["id", uuid],
    ["status", str],
    ["heads", list(hash)],
    ["reason", omit(struct("Reason"))],
    ["missing", omitEmpty(list(hash))],
  ],
  Reason: [["code", str], ["message", str], ["field", omit(str)]],
  PullRequest: [["cursor", nil(bytes)], ["limit", nil(int)], ["checkpoint", int]],
  PullResponse: [
    ["docs", list(struct("DocUpdate"))],
    ["evict", list(uuid)],
    ["cursor", bytes],
    ["more", bool],
    ["seq", int],
  ],
  DocUpdate: [
    ["id", uuid],
    ["kind", str],
    ["chunks", list(bytes)],
    ["heads", list(hash)],
    ["listing", omit(struct("Listing"))],
    ["tip_listing", omit(struct("Listing"))],
    ["rewritten", omit(bool)],
  ],
  Listing: [["fields", str], ["conflicts", str], ["deleted", bool]],
  VerifyRequest: [["mode", str], ["scope_digest", nil(hash)], ["docs", list(struct("DocHeads"))]],
  DocHeads: [["id", uuid], ["heads", list(hash)]],
  VerifyResponse: [
    ["in_sync", bool],
    ["scope_digest", hash],
    ["differing", list(struct("DocHeads"))],
    ["unknown", list(uuid)],
  ],
};

// Fields the server may leave out, and what they then are.
const DEFAULTS = { list: () => [], int: () => 0 };

export const MESSAGE_TYPES = Object.freeze(Object.keys(STRUCTS));

export class WireError extends Error {}

export function hexToBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-f]/.test(hex)) {
    throw new WireError(`not lowercase hex: ${hex}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

export function bytesToHex(bytes) {
  let hex = "";
  for (const b of bytes) hex += HEX[b];
  return hex;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function uuidToBytes(id) {
  if (!UUID.test(id)) throw new WireError(`not a lowercase hyphenated UUID: ${id}`);
  return hexToBytes(id.replaceAll("-", ""));
}

export function bytesToUuid(b) {
  const h = bytesToHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function toWire(type, value, path) {
  switch (type.t) {
    case "uuid":
      return uuidToBytes(value);
    case "hash": {
      const b = hexToBytes(value);
      if (b.length !== 32) throw new WireError(`${path}: a hash is 32 bytes`);
      return b;
    }
    case "bytes":
      if (!(value instanceof Uint8Array)) throw new WireError(`${path}: expected a Uint8Array`);
      return value;
    case "int":
      if (!Number.isSafeInteger(value)) throw new WireError(`${path}: expected an integer`);
      return value;
    case "struct":
      return structToWire(type.name, value, path);
  }
  return same(type, value, path, toWire);
}

/** The types that travel as they are held: strings, booleans, and lists of any type. */
function same(type, value, path, each) {
  switch (type.t) {
    case "str":
      if (typeof value !== "string") throw new WireError(`${path}: expected a string`);
      return value;
    case "bool":
      if (typeof value !== "boolean") throw new WireError(`${path}: expected a boolean`);
      return value;
    case "list":
      if (!Array.isArray(value)) throw new WireError(`${path}: expected a list`);
      return value.map((v, i) => each(type.of, v, `${path}[${i}]`));
  }
  throw new WireError(`${path}: unknown type`);
}

function structToWire(name, message, path = name) {
  const out = {};
  for (const [field, type] of STRUCTS[name]) {
    const value = message[field];
    const unset = value === undefined || value === null;
    if (type.unset === "omit" && unset) continue;
    if (type.unset === "omit_empty" && (unset || value.length === 0)) continue;
    if (type.unset === "nil" && unset) {
      out[field] = null;
      continue;
    }
    if (unset) throw new WireError(`${path}.${field} is required`);
    out[field] = toWire(type, value, `${path}.${field}`);
  }
  return out;
}

/** The MessagePack body of a message of type `name` (`PushRequest`, ...). */
export function encode(name, message) {
  if (!STRUCTS[name]) throw new WireError(`no message type ${name}`);
  return encodeMsgpack(structToWire(name, message));
}

function asBytes(value, path) {
  if (value instanceof Uint8Array) return value;
  // The server also reads a byte string written as an array of integers; so does the app.
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    return Uint8Array.from(value);
  }
  throw new WireError(`${path}: expected bytes`);
}

function fromWire(type, value, path) {
  switch (type.t) {
    case "uuid": {
      const b = asBytes(value, path);
      if (b.length !== 16) throw new WireError(`${path}: a UUID is 16 bytes`);
      return bytesToUuid(b);
    }
    case "hash": {
      const b = asBytes(value, path);
      if (b.length !== 32) throw new WireError(`${path}: a hash is 32 bytes`);
      return bytesToHex(b);
    }
    case "bytes":
      // A copy: the decoder's byte strings are views into the whole body, and a view kept (or
      // stored in IndexedDB, which copies a view's entire buffer) would keep all of it.
      return asBytes(value, path).slice();
    case "int":
      if (typeof value === "bigint") {
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new WireError(`${path}: ${value} is past 2^53`);
        }
        return Number(value);
      }
      if (!Number.isInteger(value)) throw new WireError(`${path}: expected an integer`);
      return value;
    case "struct":
      return structFromWire(type.name, value, path);
  }
  return same(type, value, path, fromWire);
}

function structFromWire(name, map, path = name) {
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw new WireError(`${path}: expected a map`);
  }
  const out = {};
  for (const [field, type] of STRUCTS[name]) {
    const value = map[field];
    if (value === undefined || value === null) {
      if (type.unset) {
        if (type.unset === "omit_empty") out[field] = [];
        else out[field] = null;
      } else if (value === undefined && DEFAULTS[type.t]) {
        out[field] = DEFAULTS[type.t]();
      } else {
        throw new WireError(`${path}.${field} is missing`);
      }
      continue;
    }
    out[field] = fromWire(type, value, `${path}.${field}`);
  }
  return out;
}

/** Reads a MessagePack body as a message of type `name`. Unknown fields are ignored. */
export function decode(name, body) {
  if (!STRUCTS[name]) throw new WireError(`no message type ${name}`);
  let map;
  try {
    map = decodeMsgpack(body, { useBigInt64: true });
  } catch (e) {
    throw new WireError(`not MessagePack: ${e.message}`);
  }
  return structFromWire(name, map);
}

/**
 * Reads a message in the JSON debugging form (docs/protocol.md, section 4): UUIDs as strings,
 * byte strings and hashes as arrays of numbers.
 */
export function fromJson(name, json) {
  const convert = (type, value, path) => {
    if (type.t === "uuid") {
      if (typeof value !== "string") throw new WireError(`${path}: expected a UUID string`);
      return value.toLowerCase();
    }
    if (type.t === "list") return value.map((v, i) => convert(type.of, v, `${path}[${i}]`));
    if (type.t === "struct") return fields(type.name, value, path);
    return fromWire(type, value, path);
  };
  const fields = (struct, map, path) => {
    const out = {};
    for (const [field, type] of STRUCTS[struct]) {
      const value = map[field];
      if (value === undefined || value === null) {
        out[field] = type.unset === "omit_empty" ? [] : type.unset ? null : value;
        if (out[field] === undefined && DEFAULTS[type.t]) out[field] = DEFAULTS[type.t]();
        continue;
      }
      out[field] = convert(type, value, `${path}.${field}`);
    }
    return out;
  };
  return fields(name, json, name);
}
