/**
 * WebCrypto for Node with a fast path for what every handshake does: HMAC
 * SHA-256 with the mesh secret. Node's subtle.sign/verify runs each HMAC as
 * a thread-pool job (~0.3 ms of main-thread overhead per call, measured: a
 * seed then spends most of a join storm there), and subtle.importKey
 * re-imports the secret for every link. Here raw HMAC keys are cached per
 * secret and HMAC is computed synchronously with node:crypto (a few µs);
 * verify compares in constant time. Everything else is Node's own subtle.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const base = globalThis.crypto.subtle;
/** Raw key bytes of the HMAC-SHA-256 keys imported here. */
const rawOf = new WeakMap<CryptoKey, Buffer>();
/** secret (latin1 of its bytes) → its key: a process uses one or a few secrets. */
const cache = new Map<string, Promise<CryptoKey>>();
const CACHE_MAX = 64;

const isHmac = (alg: unknown): boolean => alg === 'HMAC' || (typeof alg === 'object' && alg !== null && (alg as { name?: unknown }).name === 'HMAC');

function bytesOf(data: BufferSource): Buffer {
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as ArrayBuffer);
}

function isSha256(alg: unknown): boolean {
  if (typeof alg !== 'object' || alg === null) return false;
  const h = (alg as { hash?: unknown }).hash;
  const name = typeof h === 'string' ? h : (h as { name?: unknown } | undefined)?.name;
  return name === 'SHA-256' && (alg as { length?: unknown }).length === undefined;
}

const overrides = {
  importKey: {
    value(format: KeyFormat, keyData: BufferSource | JsonWebKey, alg: unknown, extractable: boolean, usages: KeyUsage[]): Promise<CryptoKey> {
      if (format !== 'raw' || !isHmac(alg) || !isSha256(alg) || extractable) {
        return (base.importKey as (...a: unknown[]) => Promise<CryptoKey>).call(base, format, keyData, alg, extractable, usages);
      }
      const raw = Buffer.from(bytesOf(keyData as BufferSource));
      const id = `${[...usages].sort().join(',')}:${raw.toString('latin1')}`;
      let p = cache.get(id);
      if (!p) {
        p = base.importKey('raw', raw, alg as HmacImportParams, false, usages).then((k) => (rawOf.set(k, raw), k));
        if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
        cache.set(id, p);
        // A failed import is not cached.
        p.catch(() => cache.delete(id));
      }
      return p;
    },
  },
  sign: {
    value(alg: unknown, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
      const raw = isHmac(alg) ? rawOf.get(key) : undefined;
      if (raw === undefined || !key.usages.includes('sign')) return (base.sign as (...a: unknown[]) => Promise<ArrayBuffer>).call(base, alg, key, data);
      const mac = createHmac('sha256', raw).update(bytesOf(data)).digest();
      return Promise.resolve(mac.buffer.slice(mac.byteOffset, mac.byteOffset + mac.byteLength) as ArrayBuffer);
    },
  },
  verify: {
    value(alg: unknown, key: CryptoKey, signature: BufferSource, data: BufferSource): Promise<boolean> {
      const raw = isHmac(alg) ? rawOf.get(key) : undefined;
      if (raw === undefined || !key.usages.includes('verify')) return (base.verify as (...a: unknown[]) => Promise<boolean>).call(base, alg, key, signature, data);
      const mac = createHmac('sha256', raw).update(bytesOf(data)).digest();
      const sig = bytesOf(signature);
      return Promise.resolve(sig.length === mac.length && timingSafeEqual(sig, mac));
    },
  },
};

const METHODS = ['encrypt', 'decrypt', 'sign', 'verify', 'digest', 'generateKey', 'deriveKey', 'deriveBits', 'importKey', 'exportKey', 'wrapKey', 'unwrapKey'] as const;

/** A SubtleCrypto: Node's own, bound, with HMAC-SHA-256 importKey/sign/verify replaced. */
export const fastSubtle = Object.fromEntries(
  METHODS.map((m) => [m, m in overrides ? overrides[m as keyof typeof overrides].value : (base[m] as (...a: unknown[]) => unknown).bind(base)]),
) as unknown as SubtleCrypto;
