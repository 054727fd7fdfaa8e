import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from '../src/config.ts';

describe('config', () => {
  it('has production defaults', () => {
    const c = loadConfig({});
    expect(c.namespaces).toEqual(['taxi', 'oplata', 'bnpl']);
    expect(c.reqGate).toEqual({ intervalMs: 300_000, limit: 500 });
    expect(c.oebsGate).toEqual({ intervalMs: 300_000, limit: 500 });
    expect(c.api).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(c.topics.backend).toBe('postgres');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([['500ms', 500], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['250', 250]])('reads the duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads approvals, allowed clients and tokens', () => {
    const c = loadConfig({
      PAYOUT_APPROVE_REQUIRED: '["bnpl"]',
      PAYOUT_ALLOWED_NS: '{"taxi": [1, "2"]}',
      PAYOUT_API_TOKENS: '{"t": {"name": "billing", "namespaces": ["taxi"]}}',
    });
    expect(c.approveRequired).toEqual(['bnpl']);
    expect(c.allowedNs.get('taxi')).toEqual(new Set(['1', '2']));
    expect(c.api.tokens.get('t')).toEqual({ name: 'billing', namespaces: ['taxi'] });
    expect(loadConfig({ PAYOUT_APPROVE_REQUIRED: 'global' }).approveRequired).toBe('global');
  });

  it('reads the OEBS emulator behaviours per client', () => {
    const c = loadConfig({ PAYOUT_OEBS_EMULATOR: '{"101": "reject", "102": "return", "103": "silent", "104": "accept"}' });
    expect([...c.oebsEmulator.byClient]).toEqual([['101', 'reject'], ['102', 'return'], ['103', 'silent'], ['104', 'accept']]);
    expect(loadConfig({}).oebsEmulator.byClient.size).toBe(0);
    for (const bad of ['["101"]', '{"101": "explode"}', '{"abc": "reject"}', '{"101": 1}', 'nope']) {
      expect(() => loadConfig({ PAYOUT_OEBS_EMULATOR: bad })).toThrow(/PAYOUT_OEBS_EMULATOR/);
    }
  });

  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({
        PAYOUT_REQ_GATE_INTERVAL: 'soon', PAYOUT_REQUEST_LIMIT: '-3', PAYOUT_TOPICS: 'kafka',
        PAYOUT_API_TOKENS: '{not json', PAYOUT_APPROVE_REQUIRED: '["mars"]',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PAYOUT_REQ_GATE_INTERVAL', 'PAYOUT_REQUEST_LIMIT', 'PAYOUT_TOPICS', 'PAYOUT_API_TOKENS', 'PAYOUT_APPROVE_REQUIRED']) {
      expect(problems).toContain(name);
    }
  });
});

describe('config of the tasks', () => {
  it('has defaults: stuck after 1h/24h/5d, topics kept 7 days, requests 90', () => {
    expect(loadConfig({}).tasks).toEqual({
      intervalMs: 60_000,
      stuckAfterMs: { new: 3_600_000, pending: 86_400_000, confirmed: 5 * 86_400_000 },
      topicRetentionMs: 7 * 86_400_000,
      requestRetentionMs: 90 * 86_400_000,
    });
  });

  it('reads PAYOUT_STUCK_AFTER per status, keeping the defaults of the others', () => {
    expect(loadConfig({ PAYOUT_STUCK_AFTER: 'pending=30s, confirmed=2m' }).tasks.stuckAfterMs).toEqual({ new: 3_600_000, pending: 30_000, confirmed: 120_000 });
  });

  it.each(['pending', 'done=1m', 'pending=soon', 'pending=0s'])('refuses PAYOUT_STUCK_AFTER=%s naming the variable', (v) => {
    expect(() => loadConfig({ PAYOUT_STUCK_AFTER: v })).toThrow(/PAYOUT_STUCK_AFTER/);
  });
});
