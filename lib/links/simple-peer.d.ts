/**
 * What lib/links/rtc.ts uses of simple-peer, for `npm run typecheck`'s check
 * of lib/ without Node's types (tsconfig.lib.json maps simple-peer here):
 * @types/simple-peer references Node's types and would let a Node global
 * slip into lib/ unnoticed.
 */
declare namespace Peer {
  interface Options {
    initiator?: boolean;
    wrtc?: object;
    config?: RTCConfiguration;
    objectMode?: boolean;
  }
  type SignalData = object;
  interface Instance {
    on(event: string, listener: (...args: any[]) => void): this;
    once(event: string, listener: (...args: any[]) => void): this;
    removeListener(event: string, listener: (...args: any[]) => void): this;
    send(data: string | ArrayBufferView | ArrayBuffer | Blob): void;
    signal(data: SignalData | string): void;
    destroy(err?: Error): void;
    readonly connected: boolean;
  }
}
declare const Peer: new (opts?: Peer.Options) => Peer.Instance;
export default Peer;
