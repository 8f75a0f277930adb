import wrtc from '@roamhq/wrtc';
import Peer from 'simple-peer';
const mode = process.argv[2];
const t0 = Date.now();
const a = new Peer({ initiator: true, wrtc, config: { iceServers: [] }, objectMode: true });
const b = new Peer({ wrtc, config: { iceServers: [] }, objectMode: true });
a.on('signal', d => b.signal(d)); b.on('signal', d => a.signal(d));
for (const [n,p] of [['a',a],['b',b]]) { p.on('error', e => console.log(n,'error',e.code,e.message)); p.on('close', () => console.log(n,'close', Date.now()-t0)); p.on('iceStateChange', (s)=>console.log(n,'ice',s,Date.now()-t0)); }
let got=0; b.on('data', d => { got++; });
a.on('connect', () => {
  console.log('connect', Date.now()-t0);
  for (let i=0;i<200;i++) a.send(new Uint8Array(16384));
  console.log('ba', a._channel.bufferedAmount);
  if (mode === 'destroy') a.destroy();
  else if (mode === 'pcclose') { a._pc.close(); }
  else a._channel.close();
  const tc = Date.now();
  b.on('close', () => console.log('b got', got, 'after', Date.now()-tc));
});
setTimeout(()=>{console.log('timeout, got', got); process.exit(0)}, 40000).unref();
