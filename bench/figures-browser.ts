/**
 * The browser figures: headless Chromium pages against Node (browser-run.ts),
 * each with its raw baseline from the same page in the same run. One
 * session measures all five; `--only browser` selects them.
 */
import type { Figure, MeasureContext, Measured } from './figures.ts';
import { BROWSER_RTC_COUNT, BROWSER_RTT_COUNT, BROWSER_WS_COUNT, measureBrowser, type BrowserResults } from './browser-run.ts';

let session: Promise<BrowserResults> | undefined;
function results(c: MeasureContext): Promise<BrowserResults> {
  session ??= measureBrowser(c.runs, c.signal);
  session.catch(() => (session = undefined));
  return session;
}

const pick =
  (key: keyof BrowserResults) =>
  async (c: MeasureContext): Promise<Measured> => {
    const s = (await results(c))[key];
    const per = s.value.map((v, i) => `${+v.toFixed(v < 10 ? 3 : 0)}/${+s.baseline[i]!.toFixed(s.baseline[i]! < 10 ? 3 : 0)}`).join(' ');
    return { value: s.value, baseline: s.baseline, note: `aemp/raw per run ${per}` };
  };

const n = (x: number) => x.toLocaleString('en-US');

export const browserFigures: Figure[] = [
  {
    name: 'browser.rtc_rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: `page ↔ Node over their direct data channel, ${BROWSER_RTT_COUNT} round trips; baseline raw RTCDataChannel page ↔ Node (wrtc)`,
    timeoutMs: 300_000,
    measure: pick('rtc_rtt_p50'),
  },
  {
    name: 'browser.ws_rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: `page ↔ the seed node over the page's WebSocket link, ${BROWSER_RTT_COUNT} round trips; baseline raw WebSocket page ↔ Node (ws)`,
    timeoutMs: 300_000,
    measure: pick('ws_rtt_p50'),
  },
  {
    name: 'browser.rtc_throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `page → Node over the direct data channel, ${n(BROWSER_RTC_COUNT)} msgs, 256 per frame; baseline raw RTCDataChannel`,
    timeoutMs: 300_000,
    measure: pick('rtc_throughput'),
  },
  {
    name: 'browser.ws_throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `page → the seed node over the page's WebSocket link, ${n(BROWSER_WS_COUNT)} msgs, 1000 per frame; baseline raw WebSocket`,
    timeoutMs: 300_000,
    measure: pick('ws_throughput'),
  },
  {
    name: 'browser.page_page_throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `page → page over their direct data channel, ${n(BROWSER_RTC_COUNT)} msgs, 256 per frame; baseline raw RTCDataChannel page ↔ page`,
    timeoutMs: 300_000,
    measure: pick('page_page_throughput'),
  },
  {
    name: 'browser.relay_rtt_p50',
    unit: 'ms',
    better: 'lower',
    about: `page ↔ a Node node through the seed (two hops: page ws, seed → node ws), ${BROWSER_RTT_COUNT} round trips; baseline one raw WebSocket hop`,
    timeoutMs: 300_000,
    measure: pick('relay_rtt_p50'),
  },
  {
    name: 'browser.relay_throughput',
    unit: 'msg/s',
    better: 'higher',
    about: `page → seed → Node node (two hops, the receiver in its own process), ${n(BROWSER_WS_COUNT)} msgs, 1000 per frame; baseline one raw WebSocket hop`,
    timeoutMs: 300_000,
    measure: pick('relay_throughput'),
  },
];
