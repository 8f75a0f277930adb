import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNode, BadArgumentError, type ConfigureOptions } from '../lib/index.ts';
import { OPTION_KEYS, checkOptions, closestOption, type OptionKey } from '../lib/options.ts';
import { KEY_NAMES, type ConfigKey } from '../node/config-keys.ts';

// configure() gets a profile's values as options: a profile key that is no option is a compile error here.
const profileKeysAreOptions: [Exclude<ConfigKey, OptionKey>] extends [never] ? true : false = true;

test('options — an unknown key is a compile error and a BadArgumentError naming the closest valid key', async () => {
  // @ts-expect-error monitor_timout is not an option (`npm run typecheck` fails if this line compiles)
  const typo: ConfigureOptions = { monitor_timout: 6000 };
  await assert.rejects(createNode(typo), (e: unknown) => {
    assert.ok(e instanceof BadArgumentError);
    assert.equal(e.code, 'AEMP_ERR_BAD_ARGUMENT');
    assert.equal(e.message, 'configure: unknown option "monitor_timout"; did you mean "monitor_timeout"?');
    return true;
  });
  assert.equal(closestOption('Seedss'), 'seeds');
  assert.equal(closestOption('directidlems'), 'directIdleMs');
});

test('options — a duration below its floor is refused with the hint that the API takes milliseconds', async () => {
  await assert.rejects(createNode({ seeds: ['ws://127.0.0.1:1/'], monitor_timeout: 2 }), {
    name: 'BadArgumentError',
    message: 'configure: monitor_timeout 2 is below 100 ms: the TypeScript API takes milliseconds (profiles and the aemp tool take seconds); for 2 seconds write monitor_timeout: 2000',
  });
  assert.throws(() => checkOptions({ connect_interval: 0 }), {
    message: 'configure: connect_interval 0 is below 50 ms: the TypeScript API takes milliseconds (profiles and the aemp tool take seconds)',
  });
  assert.throws(() => checkOptions({ monitor_timeout: 'soon' }), { message: /^configure: monitor_timeout "soon" is below 100 ms/ });
  // The floors themselves and unset values pass.
  checkOptions({ monitor_timeout: 100, connect_interval: 50, secret: undefined });
});

test('options — every key of the list (and every profile key) is accepted, and a node without network takes the in-process hub', async () => {
  assert.ok(OPTION_KEYS.includes('monitor_timeout') && OPTION_KEYS.includes('groups') && OPTION_KEYS.includes('iceServers'));
  for (const k of OPTION_KEYS) checkOptions({ [k]: undefined });
  assert.ok(profileKeysAreOptions);
  assert.deepEqual(KEY_NAMES.filter((k) => !OPTION_KEYS.includes(k as OptionKey)), []);
  const n = await createNode({ nodeid: 'opt_ok', monitor_timeout: 6000, groups: { maxGroups: 5 } });
  assert.equal(n.NODE, 'opt_ok');
  await n.shutdown();
});
