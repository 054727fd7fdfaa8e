import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.ts';
import { allStatusTopics, topicsFor } from '../../src/topics/paths.ts';
import { durableFor, streamFor, subjectFor } from '../../src/topics/nats-wire.ts';
import { testConfig } from '../support/config.ts';

describe('topic paths', () => {
  it('puts every namespace on /billing-payout/<env>/oebs by default, with -dry twins', () => {
    const config = testConfig({ PAYOUT_ENV: 'prod' });
    expect(topicsFor(config, 'taxi', false)).toEqual({
      newPayout: '/billing-payout/prod/oebs/new-payout',
      statusArd: '/billing-payout/prod/oebs/payout-status-ard',
      statusOebs: '/billing-payout/prod/oebs/payout-status-oebs',
      errors: '/billing-payout/prod/oebs/oebs-errors',
    });
    expect(topicsFor(config, 'bnpl', true).newPayout).toBe('/billing-payout/prod/oebs/new-payout-dry');
  });

  it('gives a namespace its own base when PAYOUT_TOPIC_BASES says so', () => {
    const config = testConfig({ PAYOUT_TOPIC_BASES: '{"oplata": "/billing-payout/prod/oplata"}' });
    expect(topicsFor(config, 'oplata', false).statusOebs).toBe('/billing-payout/prod/oplata/payout-status-oebs');
    expect(topicsFor(config, 'taxi', false).statusOebs).toBe('/billing-payout/dev/oebs/payout-status-oebs');
    expect(() => topicsFor(config, 'nope', false)).toThrow(/unknown namespace/);
  });

  it('lists the status topics once each, shared bases de-duplicated', () => {
    const shared = allStatusTopics(testConfig());
    expect(shared).toHaveLength(6);
    expect(shared).toContain('/billing-payout/dev/oebs/payout-status-ard-dry');
    expect(shared).not.toContain('/billing-payout/dev/oebs/new-payout');
    const split = allStatusTopics(testConfig({ PAYOUT_TOPIC_BASES: '{"bnpl": "/b/bnpl"}' }));
    expect(split).toHaveLength(12);
  });

  it('rejects bad bases and namespaces in PAYOUT_TOPIC_BASES', () => {
    expect(() => testConfig({ PAYOUT_TOPIC_BASES: '{"taxi": "no-slash"}' })).toThrow(ConfigError);
    expect(() => testConfig({ PAYOUT_TOPIC_BASES: '{"ghost": "/a/b"}' })).toThrow(/unknown namespace ghost/);
    expect(() => testConfig({ PAYOUT_ENV: 'a.b' })).toThrow(/PAYOUT_ENV/);
  });

  it('maps a path to a NATS subject, stream and durable name that the server accepts', () => {
    expect(subjectFor('/billing-payout/dev/oebs/new-payout')).toBe('billing-payout.dev.oebs.new-payout');
    expect(streamFor('/billing-payout/dev/oebs/new-payout')).toMatch(/^billing-payout_dev_oebs_new-payout_[0-9a-f]{8}$/);
    expect(streamFor('/a_b/c')).not.toBe(streamFor('/a/b_c'));
    expect(durableFor('receiver.v1 x')).toBe('receiver_v1_x');
  });
});
