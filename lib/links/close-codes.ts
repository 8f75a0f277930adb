/** Names of WebSocket close codes (RFC 6455 §7.4.1), for close reasons a person can read. */
const NAMES: Record<number, string> = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status',
  1006: 'abnormal closure',
  1007: 'invalid payload',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'extension required',
  1011: 'internal error',
  1012: 'service restart',
  1013: 'try again later',
  1015: 'TLS handshake failed',
};

export function closeCodeText(code: number): string {
  return NAMES[code] ?? 'unknown code';
}
