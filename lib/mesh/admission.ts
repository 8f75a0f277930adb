/**
 * Admission control at a seed: how many incoming links may be in their
 * handshake at once, in all and per remote address.
 *
 * A handshake slot is cheap but finite (maxPendingHandshakes). Without a
 * per-address share, one client holding silent WebSockets fills the table
 * and every honest join gets AEMP_ERR_BUSY until the handshake timeout
 * frees a slot. So:
 * - one address holds at most `perAddress` slots (a NAT or a test machine
 *   with many nodes behind one address still joins many at once);
 * - when the table is full, a newcomer whose address holds fewer slots than
 *   the address holding the most takes that address's oldest slot (that
 *   handshake is closed with AEMP_ERR_BUSY): the table is shared fairly
 *   between addresses, so an attacker needs more addresses than the honest
 *   clients have slots, not just more sockets.
 * Addresses are compared as IPv4 (IPv4-mapped IPv6 unwrapped) or by IPv6
 * /64 prefix: one IPv6 host usually owns a whole /64.
 */

export interface AdmissionLimits {
  /** Handshakes in progress at once, all addresses. */
  total: number;
  /** Handshakes in progress at once from one address (IPv6: one /64). */
  perAddress: number;
}

export interface Ticket {
  readonly address: string;
  /** The handshake ended (either way): free its slot. Idempotent. */
  done(): void;
}

interface Slot extends Ticket {
  evict: (why: string) => void;
  released: boolean;
}

export class Admission {
  private byAddress = new Map<string, Set<Slot>>();
  private count = 0;

  constructor(private readonly limits: AdmissionLimits) {}

  /** Handshakes in progress. */
  get pending(): number {
    return this.count;
  }

  /** Handshakes in progress from `address`. */
  pendingFrom(address: string | undefined): number {
    return this.byAddress.get(addressKey(address))?.size ?? 0;
  }

  /**
   * A slot for a handshake from `address`, or the reason there is none.
   * `evict` closes that handshake should a newcomer from a lighter address need its slot.
   */
  admit(address: string | undefined, evict: (why: string) => void): Ticket | string {
    const key = addressKey(address);
    const mine = this.byAddress.get(key)?.size ?? 0;
    if (mine >= this.limits.perAddress) return `${mine} handshakes pending from ${key} (limit ${this.limits.perAddress} per address)`;
    if (this.count >= this.limits.total) {
      const heaviest = this.heaviest();
      if (heaviest === undefined || heaviest.size <= mine + 1) return `${this.count} handshakes pending (limit ${this.limits.total})`;
      const victim = heaviest.values().next().value!;
      this.release(victim);
      victim.evict(`AEMP_ERR_BUSY: handshake table full; this address (${victim.address}) holds the most pending handshakes`);
    }
    const slot: Slot = {
      address: key,
      evict,
      released: false,
      done: () => this.release(slot),
    };
    let set = this.byAddress.get(key);
    if (set === undefined) this.byAddress.set(key, (set = new Set()));
    set.add(slot);
    this.count++;
    return slot;
  }

  private release(s: Slot): void {
    if (s.released) return;
    s.released = true;
    this.count--;
    const set = this.byAddress.get(s.address)!;
    set.delete(s);
    if (set.size === 0) this.byAddress.delete(s.address);
  }

  /** The address holding the most slots (a scan; only when the table is full). */
  private heaviest(): Set<Slot> | undefined {
    let best: Set<Slot> | undefined;
    for (const set of this.byAddress.values()) if (best === undefined || set.size > best.size) best = set;
    return best;
  }
}

/** The key admission counts an address under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix. */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(':')) return a;
  const groups = expandV6(a.replace(/%.*$/, ''));
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : a;
}

/** "2001:db8::1" → 8 groups without leading zeros; undefined if it is not IPv6. */
function expandV6(a: string): string[] | undefined {
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === '' ? [] : s.split(':'));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const all = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => g.replace(/^0+(?=.)/, ''));
}
