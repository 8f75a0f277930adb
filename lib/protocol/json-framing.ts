/**
 * The json framing's value mapping (json.ts), loaded on first use: links
 * speak msgpack unless a peer insists on json, so a page need not carry it.
 * A json FrameEncoder/FrameDecoder (codec.ts) needs it loaded first: the
 * handshake loads it when it picks json, a node configured for json when it
 * starts.
 */
import type * as JsonValues from './json.ts';

let values: typeof JsonValues | undefined;

export async function loadJsonFraming(): Promise<void> {
  values ??= await import('./json.ts');
}

export function jsonFramingLoaded(): boolean {
  return values !== undefined;
}

/** json.ts once loaded. */
export function jsonValues(): typeof JsonValues | undefined {
  return values;
}
