/**
 * The handler side of a Link, shared by every link kind: holds frames that
 * arrive before a frame handler is set, runs the close handler exactly once
 * and after every frame that arrived before the close, and keeps a throwing
 * handler from escaping into the transport's event loop.
 */
import type { Frame, LinkHandlers } from '../link.ts';
import { logger } from '../log.ts';

const log = logger('link');

/**
 * The link a LinkEvents belongs to, for links made by the thousand (a
 * seed's): named by its toString() when a log line needs it, told of a
 * throwing handler by a method — no closure and no name string per link.
 */
export interface EventsOwner {
  toString(): string;
  handlerThrew(reason: string): void;
}

export class LinkEvents {
  // The handlers, as fields of this object (not a handlers object of their own per link).
  private onFrame: LinkHandlers['frame'] | undefined;
  private onClose: LinkHandlers['close'] | undefined;
  private onDrain: LinkHandlers['drain'] | undefined;
  private onAlive: LinkHandlers['alive'] | undefined;
  // Frames that arrived while no frame handler was set, or while the held
  // ones are still being handed over (so newer frames queue behind them).
  private held: Frame[] | undefined = [];
  private flushQueued = false;
  private state: 'open' | 'closing' | 'closed' = 'open';
  // Set by a local close: held frames are not handed over after the owner said close.
  private stopped = false;
  private reason = '';

  /**
   * @param name used in log lines ("ws 127.0.0.1:4040"), or the link
   *   itself (EventsOwner), which is then told of a throwing handler
   * @param onHandlerError with a name: called when a frame or drain handler
   *   throws; the link closes itself with that reason
   */
  constructor(
    private readonly name: string | EventsOwner,
    private readonly onHandlerError?: (reason: string) => void,
  ) {}

  /** True until the close was seen (locally or from the transport). */
  get open(): boolean {
    return this.state === 'open';
  }

  /** Merge handlers in; held frames (and a held close) follow in a microtask. */
  set(h: Partial<LinkHandlers>): void {
    if (h.frame) this.onFrame = h.frame;
    if (h.close) this.onClose = h.close;
    if (h.drain) this.onDrain = h.drain;
    if (h.alive) this.onAlive = h.alive;
    if ((this.held && this.onFrame) || (this.state === 'closing' && this.onClose)) this.queueFlush();
  }

  /** A frame from the transport. Dropped once the link is closed. */
  frame(f: Frame): void {
    if (this.state !== 'open') return;
    if (this.held) {
      this.held.push(f);
      return;
    }
    this.callFrame(f);
  }

  /**
   * The link is gone. Returns false if it already was. The close handler
   * runs in a microtask, exactly once, after the frames that arrived before
   * the close (unless `local`: the owner closed it and wants no more).
   */
  close(reason: string, local = false): boolean {
    if (local) this.stopped = true;
    if (this.state !== 'open') return false;
    this.state = 'closing';
    this.reason = reason;
    log.debug(`${this.name}: closed: ${reason}`);
    this.queueFlush();
    return true;
  }

  /** A heartbeat of the transport arrived: a sign of life with no frame (dropped while no handler takes it). */
  alive(): void {
    if (this.state === 'open') this.onAlive?.();
  }

  /** The transport's buffer fell back under the low-water mark. */
  drain(): void {
    if (this.state !== 'open' || !this.onDrain) return;
    try {
      this.onDrain();
    } catch (err) {
      this.handlerThrew('drain', err);
    }
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    const held = this.held;
    if (held && this.onFrame) {
      // Index loop: frames that arrive during delivery are appended to `held`.
      for (let i = 0; i < held.length && !this.stopped; i++) this.callFrame(held[i]!);
      this.held = undefined;
    }
    // A close waits for a frame handler to take the frames held before it.
    const framesWait = this.held !== undefined && this.held.length > 0 && !this.stopped;
    if (this.state === 'closing' && this.onClose && !framesWait) {
      this.state = 'closed';
      this.held = undefined;
      try {
        this.onClose(this.reason);
      } catch (err) {
        log.error(`${this.name}: close handler threw: ${errText(err)}`);
      }
    }
  }

  private callFrame(f: Frame): void {
    try {
      this.onFrame!(f);
    } catch (err) {
      this.handlerThrew('frame', err);
    }
  }

  private handlerThrew(which: string, err: unknown): void {
    const reason = `${which} handler threw: ${errText(err)}`;
    log.error(`${this.name}: ${reason}`);
    if (typeof this.name === 'string') this.onHandlerError!(reason);
    else this.name.handlerThrew(reason);
  }
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
