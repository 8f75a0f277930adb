/** PEM files on the command line: a certificate with its key (setcert), trusted CAs (settlsca), and how they are shown. */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { pemCertificates, validateValue } from '../config-keys.ts';
import { UsageError, wrap } from './args.ts';

export function readCertFile(cmd: string, file: string): { cert: string; key: string } {
  const text = readFileArg(cmd, file);
  const certs = pemCertificates(text);
  const key = text.match(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/);
  if (!certs.length || !key) throw new UsageError(`${cmd}: ${file} must hold a PEM certificate and its private key`, cmd);
  return wrap(cmd, () => validateValue('cert', { cert: certs.join('\n') + '\n', key: key[0] + '\n' })) as { cert: string; key: string };
}

export function readFileArg(cmd: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${cmd}: cannot read ${file}: ${(e as Error).message}`, cmd);
  }
}

function describeCert(pem: string): string {
  const x = new X509Certificate(pem);
  return `${x.subject.replace(/\n/g, ', ')}, valid until ${new Date(x.validTo).toISOString().slice(0, 10)}`;
}

/** A value as showprofile prints it: certificates by subject and expiry, the rest as JSON. */
export function describeValue(key: string, v: unknown): string {
  if (key === 'cert' && typeof v === 'object' && v) return `certificate ${describeCert((v as { cert: string }).cert)}`;
  if (key === 'tls_ca' && typeof v === 'string') return `trusts ${pemCertificates(v).map(describeCert).join('; ')}`;
  return JSON.stringify(v);
}
