/**
 * The group registry and its replica logic, pure: state in, messages out.
 * A replica is driven with hand-made requests and a ManualClock, and what
 * it sends is recorded per destination.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../lib/clock.ts';
import { setLogSink } from '../lib/log.ts';
import { Registry } from '../lib/groups/registry.ts';
import { Replica } from '../lib/groups/replica.ts';
import { GROUP_DEFAULTS, groupLimits, badGroupName, type GroupLimits } from '../lib/groups/options.ts';

setLogSink(() => {}); // refusals are logged at warn; the tests look at the messages

test('registry — add, remove, replace and drop report exactly the membership changes', () => {
  const r = new Registry();
  assert.deepEqual(r.add('s1', 'g', 'a#1'), { group: 'g', added: ['a#1'], removed: [] });
  assert.equal(r.add('s1', 'g', 'a#1'), undefined);
  r.add('s1', 'h', 'a#2');
  r.add('s2', 'g', 'b#1');
  assert.deepEqual([...r.members('g')!], ['a#1', 'b#1']);
  assert.equal(r.homeOf('a'), 's1');
  assert.deepEqual(r.countsOf('a'), { groups: 2, members: 2 });
  // replace: only differences; a group that empties disappears.
  assert.deepEqual(r.replace('a', 's2', [['g', ['a#1', 'a#3']], ['k', []]]), [
    { group: 'h', added: [], removed: ['a#2'] },
    { group: 'g', added: ['a#3'], removed: [] },
  ]);
  assert.equal(r.homeOf('a'), 's2');
  assert.equal(r.members('h'), undefined);
  assert.deepEqual(r.replace('a', 's2', [['g', ['a#3', 'a#1']]]), []);
  assert.deepEqual(r.remove('g', 'a#3'), { group: 'g', added: [], removed: ['a#3'] });
  assert.equal(r.remove('g', 'a#3'), undefined);
  assert.deepEqual(r.drop('a'), [{ group: 'g', added: [], removed: ['a#1'] }]);
  assert.deepEqual([...r.members('g')!], ['b#1']);
  assert.deepEqual(r.nodesAt('s2'), ['b']);
  assert.deepEqual(r.drop('a'), []);
});

test('options — group names: type, length, characters; limits are checked', () => {
  const l = GROUP_DEFAULTS;
  assert.equal(badGroupName('eg_chat-server/1:x.y@z+=~$', l), undefined);
  assert.match(badGroupName('', l)!, /must not be empty/);
  assert.match(badGroupName(7, l)!, /must be a string, not number/);
  assert.match(badGroupName('a b', l)!, /characters outside/);
  assert.match(badGroupName('x'.repeat(129), l)!, /129 characters long \(limit 128\)/);
  assert.equal(groupLimits({ maxGroups: 5 }).maxGroups, 5);
  assert.throws(() => groupLimits({ maxGroups: 0 }), { code: 'AEMP_ERR_BAD_ARGUMENT' });
  assert.throws(() => groupLimits({ nope: 1 }), { code: 'AEMP_ERR_BAD_ARGUMENT', message: /unknown groups option "nope"/ });
});

/** A replica named `home` with recorded output; `clients` and `seeds` say who is linked. */
function replica(home: string, o: { clients?: string[]; seeds?: string[]; limits?: Partial<GroupLimits>; graceMs?: number } = {}) {
  const clock = new ManualClock();
  const clients = new Set([home, ...(o.clients ?? [])]);
  const seeds = new Set(o.seeds ?? []);
  const out: Array<[string, unknown[]]> = [];
  const limits = { ...GROUP_DEFAULTS, ...o.limits };
  const r = new Replica({
    home,
    clock,
    limits: () => limits,
    graceMs: () => o.graceMs ?? 1000,
    isClient: (n) => clients.has(n),
    isSeed: (n) => seeds.has(n),
    toNode: (n, msg) => out.push([n, msg]),
    toSeeds: (msg) => out.push(['*seeds', msg]),
    toSeed: (s, msg) => out.push([`seed:${s}`, msg]),
  });
  /** The messages sent since the last call. */
  const sent = () => out.splice(0);
  return { r, clock, clients, seeds, sent };
}

test('replica — hello registers, replicates and answers every watched group; changes go to subscribers only', () => {
  const { r, sent } = replica('s1', { clients: ['a', 'b'] });
  r.handle('b', 'grp_hello', [[], ['g']]);
  assert.deepEqual(sent(), [
    ['*seeds', ['grp_node', 'b', []]],
    ['b', ['grp_state', 'g', []]],
  ]);
  r.handle('a', 'grp_hello', [[['g', ['a#1', 'a#1']], ['h', ['a#2']]], []]);
  assert.deepEqual(sent(), [
    ['b', ['grp_chg', 'g', ['a#1'], []]],
    ['*seeds', ['grp_node', 'a', [['g', ['a#1']], ['h', ['a#2']]]]],
  ]);
  // The same hello again (a reconnect): nothing changed, nothing to tell b.
  r.handle('a', 'grp_hello', [[['h', ['a#2']], ['g', ['a#1']]], []]);
  assert.deepEqual(sent(), [['*seeds', ['grp_node', 'a', [['h', ['a#2']], ['g', ['a#1']]]]]]);
  r.handle('a', 'grp_reg', ['g', 'a#3']);
  r.handle('a', 'grp_unreg', ['g', 'a#1']);
  r.handle('a', 'grp_unreg', ['g', 'a#1']);
  // The other seeds hear of a change before this seed's watchers (their fan-outs start sooner).
  assert.deepEqual(sent(), [
    ['*seeds', ['grp_add', 'g', 'a#3']],
    ['b', ['grp_chg', 'g', ['a#3'], []]],
    ['*seeds', ['grp_del', 'g', 'a#1']],
    ['b', ['grp_chg', 'g', [], ['a#1']]],
  ]);
  assert.deepEqual(r.members('g'), ['a#3']);
  // a's link closes: gone here and at every seed.
  r.clientGone('a');
  assert.deepEqual(sent(), [
    ['*seeds', ['grp_gone', 'a']],
    ['b', ['grp_chg', 'g', [], ['a#3']]],
  ]);
  assert.deepEqual(r.members('g'), []);
});

test('replica — refuses foreign ports, bad names, unattached nodes and anything over the limits', () => {
  const { r, sent } = replica('s1', { clients: ['a'], limits: { maxGroups: 2, maxMembers: 4, maxSubscriptions: 1 } });
  r.handle('a', 'grp_reg', ['g', 'b#1']);
  r.handle('a', 'grp_reg', ['bad name', 'a#1']);
  r.handle('a', 'grp_reg', ['g', 'a']);
  r.handle('x', 'grp_reg', ['g', 'x#1']);
  r.handle('x', 'grp_sub', ['g']);
  assert.deepEqual(sent(), [
    ['a', ['grp_refused', 'g', 'b#1', 'AEMP_ERR_GROUP_PORT', 'port b#1 is not on node a: a node registers only its own ports']],
    ['a', ['grp_refused', 'bad name', 'a#1', 'AEMP_ERR_GROUP_NAME', 'group name "bad name" has characters outside [A-Za-z0-9_-.:/@+=~$]']],
    ['a', ['grp_refused', 'g', 'a', 'AEMP_ERR_GROUP_PORT', '"a" is not a port ID (node#name)']],
    ['x', ['grp_refused', 'g', 'x#1', 'AEMP_ERR_GROUP_NOT_ATTACHED', 'node x is not attached to seed s1']],
    ['x', ['grp_refused', 'g', null, 'AEMP_ERR_GROUP_NOT_ATTACHED', 'node x is not attached to seed s1']],
  ]);
  for (const [g, p] of [['g', 'a#1'], ['g', 'a#2'], ['h', 'a#3'], ['k', 'a#4'], ['g', 'a#4'], ['h', 'a#5']]) r.handle('a', 'grp_reg', [g, p]);
  const refused = sent().filter(([, m]) => m[0] === 'grp_refused');
  assert.deepEqual(refused, [
    ['a', ['grp_refused', 'k', 'a#4', 'AEMP_ERR_GROUP_LIMIT', 'node a has ports in 2 groups already (limit)']],
    ['a', ['grp_refused', 'h', 'a#5', 'AEMP_ERR_GROUP_LIMIT', 'node a has 4 registrations already (limit)']],
  ]);
  assert.deepEqual(r.reg.countsOf('a'), { groups: 2, members: 4 });
  r.handle('a', 'grp_sub', ['g']);
  r.handle('a', 'grp_sub', ['h']);
  assert.deepEqual(sent(), [
    ['a', ['grp_state', 'g', ['a#1', 'a#2', 'a#4']]],
    ['a', ['grp_refused', 'h', null, 'AEMP_ERR_GROUP_LIMIT', 'node a watches 1 groups already (limit)']],
  ]);
  // A hello over the limits keeps what fits and refuses the rest.
  r.handle('a', 'grp_hello', [[['g', ['a#1', 'a#2', 'b#9']], ['h', ['a#3', 'a#4']], ['k', ['a#5']]], ['g', 'h']]);
  const out = sent();
  assert.deepEqual(r.reg.entriesOf('a'), [['g', ['a#1', 'a#2']], ['h', ['a#3', 'a#4']]]);
  assert.deepEqual(
    out.filter(([, m]) => m[0] === 'grp_refused').map(([, m]) => m.slice(1, 4)),
    [
      ['g', 'b#9', 'AEMP_ERR_GROUP_PORT'],
      ['k', 'a#5', 'AEMP_ERR_GROUP_LIMIT'],
      ['h', null, 'AEMP_ERR_GROUP_LIMIT'],
    ],
  );
  // Seed updates from a node that is not a linked seed are ignored.
  r.handle('a', 'grp_gone', ['a']);
  r.handle('a', 'grp_node', ['a', []]);
  assert.deepEqual(r.reg.entriesOf('a'), [['g', ['a#1', 'a#2']], ['h', ['a#3', 'a#4']]]);
});

test('replica — a new seed catches up from grp_sync; updates from a seed the node has left are ignored', () => {
  const { r, sent } = replica('s2', { clients: ['b'], seeds: ['s1', 's3'] });
  r.handle('b', 'grp_hello', [[['g', ['b#1']]], ['g']]);
  sent();
  r.seedUp('s1');
  assert.deepEqual(sent(), [['seed:s1', ['grp_sync', [['b', [['g', ['b#1']]]]]]]]);
  r.handle('s1', 'grp_sync', [[['a', [['g', ['a#1']], ['h', ['a#2', 'x#9']]]], ['s1', [['g', ['s1#1']]]]]]);
  assert.deepEqual(r.members('g'), ['a#1', 'b#1', 's1#1']);
  assert.deepEqual(r.members('h'), ['a#2']);
  assert.deepEqual(sent(), [
    ['b', ['grp_chg', 'g', ['a#1'], []]],
    ['b', ['grp_chg', 'g', ['s1#1'], []]],
  ]);
  // a moves to s3 (a fresh hello there); a late add for a from s1 is stale.
  r.handle('s3', 'grp_node', ['a', [['g', ['a#1']], ['h', ['a#2']]]]);
  r.handle('s1', 'grp_add', ['g', 'a#7']);
  r.handle('s1', 'grp_gone', ['a']);
  assert.deepEqual(sent(), []);
  assert.equal(r.reg.homeOf('a'), 's3');
  r.handle('s3', 'grp_add', ['g', 'a#7']);
  r.handle('s3', 'grp_del', ['g', 'a#1']);
  assert.deepEqual(sent(), [
    ['b', ['grp_chg', 'g', ['a#7'], []]],
    ['b', ['grp_chg', 'g', [], ['a#1']]],
  ]);
  // A sync that lists a node attached here is older than our link: we tell that seed.
  r.handle('s3', 'grp_sync', [[['b', []], ['a', [['g', ['a#7']], ['h', ['a#2']]]]]]);
  assert.deepEqual(sent(), [['seed:s3', ['grp_node', 'b', [['g', ['b#1']]]]]]);
  assert.deepEqual(r.members('g'), ['a#7', 'b#1', 's1#1']);
});

test('replica — a lost seed: its own ports go at once, its nodes are kept for the grace period, then dropped unless re-registered', () => {
  const { r, clock, clients, sent } = replica('s2', { clients: ['b'], seeds: ['s1'], graceMs: 5000 });
  r.handle('b', 'grp_hello', [[], ['g']]);
  r.handle('s1', 'grp_sync', [[['s1', [['g', ['s1#1']]]], ['a', [['g', ['a#1']]]], ['c', [['g', ['c#1']]]]]]);
  sent();
  r.seedGone('s1');
  assert.deepEqual(sent(), [['b', ['grp_chg', 'g', [], ['s1#1']]]]);
  assert.equal(r.orphans, 2);
  clock.advance(4000);
  // a fails over to us within the grace period: nothing changes for subscribers.
  clients.add('a');
  r.handle('a', 'grp_hello', [[['g', ['a#1']]], []]);
  assert.deepEqual(sent(), [['*seeds', ['grp_node', 'a', [['g', ['a#1']]]]]]);
  assert.equal(r.orphans, 1);
  clock.advance(999);
  assert.deepEqual(r.members('g'), ['a#1', 'c#1']);
  clock.advance(1);
  // c never came back.
  assert.deepEqual(sent(), [['b', ['grp_chg', 'g', [], ['c#1']]]]);
  assert.deepEqual(r.members('g'), ['a#1']);
  assert.equal(r.orphans, 0);
  assert.equal(clock.pending, 0);
});

test('replica — a seed that relinks lists its nodes; those it no longer has get the grace period', () => {
  const { r, clock, sent } = replica('s2', { clients: ['b'], seeds: ['s1'], graceMs: 100 });
  r.handle('b', 'grp_hello', [[], ['g']]);
  r.handle('s1', 'grp_sync', [[['a', [['g', ['a#1']]]], ['c', [['g', ['c#1']]]]]]);
  sent();
  r.seedGone('s1');
  r.handle('s1', 'grp_sync', [[['a', [['g', ['a#1']]]]]]);
  clock.advance(100);
  assert.deepEqual(sent(), [['b', ['grp_chg', 'g', [], ['c#1']]]]);
  assert.deepEqual(r.members('g'), ['a#1']);
  assert.equal(r.reg.homeOf('a'), 's1');
});
