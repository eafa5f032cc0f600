// Records as automerge documents laid out by the server's schema (`GET /v1/schema`,
// docs/protocol.md section 6): made, edited, checked and listed the way the Rust SDK does.

import * as A from "@automerge/automerge/slim";

export class SchemaError extends Error {}

/** The layout of `kind` in a schema document. */
export function kindOf(schema, kind) {
  const layout = schema.kinds.find((k) => k.name === kind);
  if (!layout) throw new SchemaError(`no kind ${kind}`);
  return layout;
}

function fieldOf(layout, name) {
  const field = layout.fields.find((f) => f.name === name);
  if (!field) throw new SchemaError(`${layout.name} has no field ${name}`);
  return field;
}

const HYPHENATED = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const UUID = new RegExp(`^${HYPHENATED}$`);
// Every form the server reads a reference in (the uuid crate's `parse_str`): hyphenated, 32 hex
// digits, braced, or as a URN, in either case.
const ANY_UUID = new RegExp(`^(${HYPHENATED}|[0-9a-f]{32}|\\{${HYPHENATED}\\}|urn:uuid:${HYPHENATED})$`, "i");
const HASH = /^[0-9a-f]{64}$/;

/**
 * Why `value` cannot be written to `field` (a field of the schema document), as the server's code
 * (`required`, `type`, `range`, `too_long`, `format`, `enum`, `nul_character`, `too_many_items`),
 * or null when it can. `value` is what the app writes: a string, a number, a boolean, a
 * timestamp in milliseconds, items as [{id, ...fields}], or null to unset.
 */
export function check(field, value) {
  if (value === null || value === undefined) return field.required ? "required" : null;
  const chars = (s) => [...s].length;
  const text = (s, max) => {
    if (typeof s !== "string") return "type";
    if (s.includes("\u0000")) return "nul_character";
    return chars(s) > max ? "too_long" : null;
  };
  switch (field.type) {
    case "string": {
      const e = text(value, field.max_len);
      if (e) return e;
      return field.required && value.trim() === "" ? "required" : null;
    }
    case "text":
      return text(value, field.max_len);
    case "email": {
      const e = text(value, field.max_len);
      if (e) return e;
      const at = value.indexOf("@");
      const domain = value.slice(at + 1);
      const ok =
        at > 0 && domain.includes(".") && !domain.includes("@") && !/\s/.test(value);
      return ok ? null : "format";
    }
    case "int":
      if (!Number.isSafeInteger(value)) return "type";
      return value < field.min || value > field.max ? "range" : null;
    case "float":
      if (typeof value !== "number" || !Number.isFinite(value)) return "type";
      return value < field.min || value > field.max ? "range" : null;
    case "bool":
      return typeof value === "boolean" ? null : "type";
    case "timestamp":
      return Number.isSafeInteger(value) ? null : "type";
    case "enum":
      if (typeof value !== "string") return "type";
      return field.values.includes(value) ? null : "enum";
    case "reference":
      if (typeof value !== "string") return "type";
      return ANY_UUID.test(value) ? null : "format";
    case "attachment":
      if (typeof value !== "string") return "type";
      return HASH.test(value) ? null : "format";
    case "items": {
      if (!Array.isArray(value)) return "type";
      if (value.length > field.max_items) return "too_many_items";
      for (const item of value) {
        if (typeof item.id !== "string" || !UUID.test(item.id)) return "format";
        for (const f of field.fields) {
          const e = check(f, item[f.name] ?? null);
          if (e) return e;
        }
      }
      return null;
    }
  }
  return "type";
}

/** The automerge value that holds `value` in a field of this representation. */
function scalar(field, value) {
  if (value === null || value === undefined) return null;
  switch (field.automerge) {
    case "str":
      return new A.ImmutableString(value);
    case "int":
      return new A.Int(value);
    case "f64":
      return new A.Float64(value);
    case "timestamp":
      return new Date(value);
    case "boolean":
      return value;
  }
  throw new SchemaError(`${field.name} is not a scalar`);
}

function checked(layout, values) {
  const errors = [];
  for (const [name, value] of Object.entries(values)) {
    const field = fieldOf(layout, name);
    if (field.writer === "server") errors.push(`${name}: only the server writes it`);
    const e = check(field, value);
    if (e) errors.push(`${name}: ${e}`);
  }
  if (errors.length) throw new SchemaError(errors.join("; "));
}

function write(d, layout, values) {
  for (const [name, value] of Object.entries(values)) {
    const field = fieldOf(layout, name);
    if (field.automerge === "text") {
      A.updateText(d, [name], value ?? "");
    } else if (field.automerge === "map") {
      const items = d[name];
      const wanted = new Set(value.map((i) => i.id));
      for (const id of Object.keys(items)) if (!wanted.has(id)) delete items[id];
      for (const item of value) {
        if (!items[item.id]) items[item.id] = {};
        for (const f of field.fields) {
          if (item[f.name] !== undefined) items[item.id][f.name] = scalar(f, item[f.name]);
        }
      }
    } else {
      d[name] = scalar(field, value);
    }
  }
}

/**
 * A new record of `kind` by the device whose actor is `actor` (hex): one change that makes every
 * text and items object of the kind, the tombstone, and the given fields, checked first.
 */
export function createRecord(schema, kind, actor, values, { time } = {}) {
  const layout = kindOf(schema, kind);
  checked(layout, values);
  const missing = layout.fields.filter((f) => f.required && values[f.name] == null);
  if (missing.length) {
    throw new SchemaError(missing.map((f) => `${f.name}: required`).join("; "));
  }
  const doc = A.init({ actor });
  return A.change(doc, { time: time ?? Math.floor(Date.now() / 1000) }, (d) => {
    for (const name of layout.created_with) {
      const field = fieldOf(layout, name);
      if (field.automerge === "text") d[name] = values[name] ?? "";
      else d[name] = {};
    }
    d[schema.deleted_field] = false;
    const rest = Object.fromEntries(
      Object.entries(values).filter(([k]) => fieldOf(layout, k).automerge !== "text"),
    );
    write(d, layout, rest);
  });
}

/** Writes fields of a record in one change (with `message`, if given), checked first; texts are
 * spliced, not replaced. */
export function updateRecord(schema, kind, doc, values, { time, message } = {}) {
  const layout = kindOf(schema, kind);
  checked(layout, values);
  const options = { time: time ?? Math.floor(Date.now() / 1000) };
  if (message) options.message = message;
  return A.change(doc, options, (d) => {
    write(d, layout, values);
  });
}

/** A read value as the listing shows it. */
function plain(value) {
  if (value instanceof A.ImmutableString) return value.toString();
  if (value instanceof Date) return value.getTime();
  return value;
}

/** automerge op ids compared as automerge orders them: by counter, then by actor. */
function compareOpIds(a, b) {
  const [ca, aa] = a.split("@");
  const [cb, ab] = b.split("@");
  return Number(ca) - Number(cb) || (aa < ab ? -1 : aa > ab ? 1 : 0);
}

/** Every concurrent value of `key` in `obj`, the shown one first, or null when there is one. */
function concurrent(obj, key) {
  const all = A.getConflicts(obj, key);
  if (!all || Object.keys(all).length < 2) return null;
  return Object.keys(all)
    .sort(compareOpIds)
    .reverse()
    .map((id) => plain(all[id]));
}

/**
 * What a device lists of a record, as the server's listing: the set fields of the schema
 * (`fields`), the fields holding concurrent values with every value, the shown one first
 * (`conflicts`), and the tombstone.
 */
export function listing(schema, kind, doc) {
  const layout = kindOf(schema, kind);
  const fields = {};
  const conflicts = [];
  for (const field of layout.fields) {
    const value = doc[field.name];
    if (value === undefined || value === null) continue;
    if (field.automerge === "map") {
      fields[field.name] = Object.keys(value)
        .sort()
        .map((id) => {
          const item = { id };
          for (const f of field.fields) {
            const v = value[id][f.name];
            if (v === undefined || v === null) continue;
            item[f.name] = plain(v);
            const values = concurrent(value[id], f.name);
            if (values) conflicts.push({ field: `${field.name}.${id}.${f.name}`, values });
          }
          return item;
        });
      continue;
    }
    fields[field.name] = plain(value);
    const values = concurrent(doc, field.name);
    if (values) conflicts.push({ field: field.name, values });
  }
  return { fields, conflicts, deleted: fields[schema.deleted_field] === true };
}
