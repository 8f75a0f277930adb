/**
 * The json framing's frames (docs/protocol.md, "Framing"): a batch as JSON
 * text, fragmented by characters (F/M/L). Loaded with the json framing
 * (json-framing.ts), on first use: links speak msgpack unless a peer
 * insists on json, so a page need not carry it. FrameEncoder and
 * FrameDecoder (codec.ts) call in here for a json link.
 */
import type { Frame } from '../link.ts';
import { fail, refusalOr, type JsonDecoding, type Limits, type Packet, type RelayCodec } from './codec.ts';
import { FRAME_CODES as C, ProtocolError } from './errors.ts';
import { utf8Length } from './bytes.ts';
import { asciiOnly, endsEarly, fromJsonValue, jsonShape, toJsonValue } from './json.ts';

/** The encoder's answer to a batch over a limit (undefined: split it), given its size and values. */
type Over = (n: number, elements: number) => undefined;

export function encodeJson(batch: Packet[], o: Limits, relay: RelayCodec | undefined, over: Over): Frame[] | undefined {
  let text: string;
  try {
    // Relayed packets from a msgpack link carry raw tails: json gets their values.
    text = JSON.stringify(toJsonValue(relay?.expand(batch) ?? batch, 1, o.maxDepth));
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    return fail(C.ENCODE, `cannot encode packet: ${(e as Error)?.message}`, e);
  }
  // Counted as the decoder will count it, so what leaves here is never refused by the same limits
  // (each value counted takes a character of its own: a text no longer than the budget is within it).
  const elements = text.length > o.maxBatchElements ? jsonShape(text, o.maxDepth, o.maxBatchElements).elements : 0;
  if (text.length > o.maxMessageSize || elements > o.maxBatchElements) return over(text.length, elements);
  const max = o.maxFrameSize;
  // Fast path: at most 3 UTF-8 bytes per UTF-16 unit, so short texts fit without counting.
  if (text.length * 3 > max) {
    const bytes = utf8Length(text);
    // Fragments are cut by character and must be measured in bytes, so escape everything
    // non-ASCII first (only string contents can be): then characters = bytes and no cut
    // can fall inside a character or a surrogate pair.
    if (bytes > max) return fragmentText(bytes === text.length ? text : asciiOnly(text), o, over);
  }
  return [text];
}

function fragmentText(text: string, o: Limits, over: Over): string[] | undefined {
  const max = o.maxFrameSize;
  // Escaping non-ASCII can make the text longer.
  if (text.length > o.maxMessageSize) return over(text.length, 0);
  const head = `F${text.length}:`;
  const frames = [head + text.slice(0, max - head.length)];
  for (let off = max - head.length; off < text.length; off += max - 1) {
    const end = Math.min(off + max - 1, text.length);
    frames.push((end === text.length ? 'L' : 'M') + text.slice(off, end));
  }
  return frames;
}

export function decodeJson(frame: Frame, d: JsonDecoding): Packet[] {
  if (typeof frame !== 'string') {
    return fail(C.UNKNOWN, frame instanceof Uint8Array ? 'binary frame on a json link' : 'frame is neither bytes nor text');
  }
  const max = d.o.maxFrameSize;
  // UTF-16 units never outnumber UTF-8 bytes, so this never refuses a frame that fit.
  if (frame.length > max) fail(C.TOO_LARGE, `frame of ${frame.length} characters exceeds maxFrameSize ${max}`);
  if (frame.length === 0) fail(C.TRUNCATED, 'empty frame');
  const kind = frame[0];
  if (kind === '[') {
    if (d.text) fail(C.FRAGMENT_ORDER, 'whole batch while a fragmented batch is open');
    if (frame.length > d.o.maxMessageSize) fail(C.TOO_LARGE, `batch exceeds maxMessageSize ${d.o.maxMessageSize}`);
    return jsonBatch(frame, d);
  }
  if (kind === 'F') {
    if (d.text) fail(C.FRAGMENT_ORDER, 'first fragment while another batch is open');
    const m = /^F([0-9]{1,16})(:?)/.exec(frame);
    if (frame.length === 1) fail(C.TRUNCATED, 'first fragment shorter than its header');
    if (!m || (!m[2] && m[0].length < frame.length)) fail(C.GARBAGE, 'bad first-fragment header');
    if (!m[2]) fail(C.TRUNCATED, 'first fragment shorter than its header');
    const total = Number(m[1]);
    if (total > d.o.maxMessageSize) {
      fail(C.TOO_LARGE, `batch of ${total} bytes exceeds maxMessageSize ${d.o.maxMessageSize}`);
    }
    const chunk = frame.slice(m[0].length);
    if (chunk.length >= total) fail(C.FRAGMENT_ORDER, `first fragment holds ${chunk.length} of ${total} characters`);
    d.text = { total, got: chunk.length, parts: [chunk], due: d.start() };
    return [];
  }
  if (kind === 'M' || kind === 'L') {
    const r = d.text ?? fail(C.FRAGMENT_ORDER, `${kind === 'L' ? 'last' : 'middle'} fragment without a first`);
    d.inTime(r);
    const got = r.got + frame.length - 1;
    if (kind === 'M' ? got >= r.total : got !== r.total) {
      fail(C.FRAGMENT_ORDER, `fragments hold ${got} characters, first fragment announced ${r.total}`);
    }
    r.parts.push(frame.slice(1));
    r.got = got;
    if (kind === 'M') return [];
    d.text = undefined;
    const whole = r.parts.join('');
    if (whole[0] !== '[') fail(C.BAD_PACKET, 'reassembled batch is not a JSON array');
    return jsonBatch(whole, d);
  }
  return refusalOr(frame, C.UNKNOWN, `unknown frame kind ${JSON.stringify(kind)}`);
}

function jsonBatch(text: string, d: JsonDecoding): Packet[] {
  // JSON.parse builds everything at once: count first, refuse before it runs. Each value counted
  // takes a character of its own, so a text no longer than the budget cannot be over it (no scan;
  // its packets are counted after parsing, which the budget already bounds).
  if (text.length > d.o.maxBatchElements) {
    const shape = jsonShape(text, d.o.maxDepth, d.o.maxBatchElements);
    if (shape.packets > d.o.maxBatchPackets) fail(C.BATCH_PACKETS, `batch of ${shape.packets} packets exceeds maxBatchPackets ${d.o.maxBatchPackets}`);
    if (shape.elements > d.o.maxBatchElements) {
      fail(C.BATCH_ELEMENTS, `batch expands to more than maxBatchElements ${d.o.maxBatchElements} values`);
    }
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    if (endsEarly(text)) fail(C.TRUNCATED, 'batch ends early', e);
    return fail(C.GARBAGE, `undecodable batch: ${(e as Error).message}`, e);
  }
  const batch = d.packets(v);
  if (batch.length > d.o.maxBatchPackets) fail(C.BATCH_PACKETS, `batch of ${batch.length} packets exceeds maxBatchPackets ${d.o.maxBatchPackets}`);
  for (let i = 0; i < batch.length; i++) fromJsonValue(batch[i], 2, d.o.maxDepth);
  return batch;
}
