/**
 * Packet values in JSON: a Uint8Array travels as {"$b": "<base64>"}; any
 * other object whose only key starts with '$' is escaped as {"$o": object},
 * so user data that happens to look like a marker comes back unchanged.
 * Depth follows @msgpack's Encoder rule (the batch array is level 1), so both
 * framings accept and refuse the same values.
 */
import { FRAME_CODES as C, ProtocolError } from './errors.ts';
import { fromBase64, plainBytes, toBase64 } from './bytes.ts';

function fail(code: string, message: string): never {
  throw new ProtocolError(code, message);
}

/** Escape every non-ASCII character (they only occur inside JSON strings), so characters = UTF-8 bytes. */
export function asciiOnly(text: string): string {
  return text.replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** The JSON wire form of a value: bytes as {$b}, '$'-keyed singletons escaped; copies only what changes. */
export function toJsonValue(v: unknown, depth: number, maxDepth: number): unknown {
  // Same depth rule as msgpack's Encoder: every value counts, the batch is level 1.
  if (depth > maxDepth) fail(C.ENCODE, `nested deeper than ${maxDepth} levels (a cycle?)`);
  const t = typeof v;
  if (t === 'string' || t === 'number' || t === 'boolean' || v == null) return v;
  if (t !== 'object') fail(C.ENCODE, `cannot encode a ${t}`);
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const c = v[i];
      const w = toJsonValue(c, depth + 1, maxDepth);
      if (w !== c && !out) out = v.slice(0, i);
      if (out) out.push(w);
    }
    return out ?? v;
  }
  if (ArrayBuffer.isView(v)) return { $b: toBase64(plainBytes(v)) };
  const o = v as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  let count = 0;
  let only = '';
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const c = o[k];
    if (c === undefined) continue; // JSON drops it, as msgpack does with ignoreUndefined
    count++;
    only = k;
    const w = toJsonValue(c, depth + 1, maxDepth);
    if (w !== c && !out) {
      out = {};
      for (let j = 0; j < i; j++) if (o[keys[j]] !== undefined) setKey(out, keys[j], o[keys[j]]);
    }
    if (out) setKey(out, k, w);
  }
  const obj = out ?? o;
  return count === 1 && only.charCodeAt(0) === 36 /* $ */ ? { $o: obj } : obj;
}

// `o.__proto__ = x` would set the prototype instead of a key.
function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** Undo toJsonValue in place on a freshly parsed value (top-down, so {$o} contents are taken literally). */
export function fromJsonValue(v: unknown, depth: number, maxDepth: number): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && depth >= maxDepth) tooDeep(maxDepth);
    for (let i = 0; i < v.length; i++) {
      const c = v[i];
      if (typeof c === 'object' && c !== null) v[i] = fromJsonValue(c, depth + 1, maxDepth);
    }
    return v;
  }
  const o = v as Record<string, unknown>;
  let n = 0;
  let only = '';
  for (const k in o) {
    if (++n > 1) break;
    only = k;
  }
  if (n === 1 && only.charCodeAt(0) === 36 /* $ */) {
    const inner = o[only];
    if (only === '$b') {
      const b = typeof inner === 'string' ? fromBase64(inner) : undefined;
      return b ?? fail(C.GARBAGE, 'bad {"$b"} value: not base64');
    }
    if (only === '$o' && typeof inner === 'object' && inner !== null && !Array.isArray(inner)) {
      reviveKeys(inner as Record<string, unknown>, depth, maxDepth);
      return inner;
    }
    fail(C.GARBAGE, `reserved object key ${JSON.stringify(only.slice(0, 20))}`);
  }
  reviveKeys(o, depth, maxDepth);
  return o;
}

function tooDeep(maxDepth: number): never {
  return fail(C.GARBAGE, `nested deeper than ${maxDepth} levels`);
}

function reviveKeys(o: Record<string, unknown>, depth: number, maxDepth: number): void {
  for (const k in o) {
    if (depth >= maxDepth) tooDeep(maxDepth);
    const c = o[k];
    if (typeof c !== 'object' || c === null) continue;
    const r = fromJsonValue(c, depth + 1, maxDepth);
    if (r !== c) setKey(o, k, r);
  }
}

/**
 * After JSON.parse failed: does the text stop inside a string or an open
 * array/object? Tells a cut frame from garbage without reading the engine's
 * error message.
 */
export function endsEarly(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* backslash */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) depth++;
    else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
  }
  return inString || depth > 0;
}

/** The shape of a batch's JSON text, counted without parsing it (jsonShape). */
export interface JsonShape {
  /** Elements of the outermost array (a batch's packets). */
  packets: number;
  /** Array elements, object keys and object values in all (a {"$b"} marker counts as its key and value). */
  elements: number;
}

/**
 * Count what JSON.parse would build from `text`, in one pass over the
 * characters outside strings: each ',' and ':' adds one element, each
 * non-empty array or object one more. JSON.parse cannot be stopped half
 * way, so this runs first and a batch over its budget is refused before a
 * single value exists. Stops counting once `elements` passes `stopAbove`.
 * Throws AEMP_ERR_FRAME_GARBAGE for non-empty nesting deeper than maxDepth + 1
 * (the exact depth rule runs after parsing; this only keeps pathological
 * nesting away from the parser).
 */
export function jsonShape(text: string, maxDepth: number, stopAbove = Infinity): JsonShape {
  let depth = 0;
  let packets = 0;
  let elements = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // Jump to the closing quote: one not preceded by an odd run of backslashes.
      let j = text.indexOf('"', i + 1);
      while (j > 0) {
        let k = j - 1;
        while (text.charCodeAt(k) === 92 /* backslash */) k--;
        if ((j - k) % 2 === 1) break;
        j = text.indexOf('"', j + 1);
      }
      if (j < 0) break; // unterminated: JSON.parse reports it
      i = j;
    } else if (c === 44 /* , */ || c === 58 /* : */) {
      elements++;
      if (depth === 1 && c === 44) packets++;
      if (elements > stopAbove) break;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      depth++;
      const next = text.charCodeAt(i + 1);
      if (next !== 93 /* ] */ && next !== 125 /* } */ && i + 1 < n) {
        if (depth > maxDepth + 1) fail(C.GARBAGE, `nested deeper than ${maxDepth} levels`);
        elements++;
        if (depth === 1) packets++;
      }
    } else if (c === 93 || c === 125) depth--;
  }
  return { packets, elements };
}
