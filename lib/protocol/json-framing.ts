/**
 * The json framing (json-frames.ts, with its value mapping json.ts), loaded
 * on first use: links speak msgpack unless a peer insists on json, so a page
 * need not carry it.
 * A json FrameEncoder/FrameDecoder (codec.ts) needs it loaded first: the
 * handshake loads it when it picks json, a node configured for json when it
 * starts.
 */
import type * as JsonFrames from './json-frames.ts';

let values: typeof JsonFrames | undefined;

export async function loadJsonFraming(): Promise<void> {
  values ??= await import('./json-frames.ts');
}

export function jsonFramingLoaded(): boolean {
  return values !== undefined;
}

/** json-frames.ts once loaded. */
export function jsonFrames(): typeof JsonFrames | undefined {
  return values;
}
