/**
 * A self-signed X.509 certificate for a wss:// seed, made with node:crypto
 * alone. Node can make keys and signatures but not certificates, so this
 * writes the few DER structures of RFC 5280 by hand (ECDSA P-256, SHA-256)
 * instead of pulling in node-forge or selfsigned.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

export interface SelfSignedOptions {
  /** Subject and issuer common name. Default "aemp". */
  commonName?: string;
  /** DNS names and IP addresses the cert is valid for. Default localhost, 127.0.0.1, ::1. */
  altNames?: string[];
  /** Validity in days from now. Default 3650. */
  days?: number;
  /** "Now", for tests. Default Date.now(). */
  nowMs?: number;
  /** The serial number's random bytes, for tests. Default 16 random bytes. */
  serialBytes?: Uint8Array;
}

/**
 * A positive serial number in DER's minimal form: the high bit clear, and
 * no leading zero byte (one in 128 random serials began 0x00 and OpenSSL
 * refused the certificate: "illegal padding").
 */
export function serialNumber(random: Uint8Array): Buffer {
  const b = Buffer.from(random);
  b[0] = b[0]! & 0x7f || 0x01;
  return b;
}

/** Makes a new P-256 key and a self-signed certificate for it; both PEM. */
export function generateSelfSignedCert(opts: SelfSignedOptions = {}): { cert: string; key: string } {
  const cn = opts.commonName ?? 'aemp';
  const alt = opts.altNames ?? ['localhost', '127.0.0.1', '::1'];
  const days = opts.days ?? 3650;
  const now = opts.nowMs ?? Date.now();
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // Key identifiers: OpenSSL finds a trust anchor by subject name, and two
  // self-signed certs may share one (CN=seed in two meshes); the key ID
  // tells them apart. SHA-1 of the SPKI (RFC 5280 allows any unique method).
  const keyId = createHash('sha1').update(spki).digest();

  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
  const serial = serialNumber(opts.serialBytes ?? randomBytes(16));
  const sanItems = alt.map((n) => {
    const v = isIP(n);
    if (v === 4) return tlv(0x87, Buffer.from(n.split('.').map(Number)));
    if (v === 6) return tlv(0x87, ipv6Bytes(n));
    return tlv(0x82, Buffer.from(n, 'ascii'));
  });
  const extensions = tlv(
    0xa3,
    seq(
      // CA:TRUE so the cert can be its own trust anchor (clients pass it as `ca`).
      seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), octets(seq(tlv(0x01, Buffer.from([0xff]))))),
      seq(oid('2.5.29.17'), octets(seq(...sanItems))),
      seq(oid('2.5.29.14'), octets(octets(keyId))), // subjectKeyIdentifier
      seq(oid('2.5.29.35'), octets(seq(tlv(0x80, keyId)))), // authorityKeyIdentifier [0] keyIdentifier
    ),
  );
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ecdsaSha256,
    name,
    seq(time(new Date(now - 60_000)), time(new Date(now + days * 86_400_000))),
    name,
    spki,
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value, as X.509 wants
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    cert: pem('CERTIFICATE', der),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const seq = (...p: Buffer[]) => tlv(0x30, ...p);
const set = (...p: Buffer[]) => tlv(0x31, ...p);
const octets = (b: Buffer) => tlv(0x04, b);
function integer(b: Buffer): Buffer {
  return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let x = Math.floor(n / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift(0x80 | (x & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  const y = d.getUTCFullYear();
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return y < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}
function ipv6Bytes(addr: string): Buffer {
  const [head = '', tail] = addr.split('::') as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const words = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}
function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
