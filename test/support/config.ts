import { loadConfig, type Config } from '../../src/config.ts';

export const TOKEN = 'test-token';
export const TAXI_TOKEN = 'taxi-token';

/** A config for tests: the given variables on top of test tokens; nothing read from process.env. */
export function testConfig(env: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({
    PAYOUT_API_TOKENS: JSON.stringify({
      [TOKEN]: { name: 'tests', namespaces: ['*'] },
      [TAXI_TOKEN]: { name: 'taxi-only', namespaces: ['taxi'] },
    }),
    PAYOUT_LOG_LEVEL: 'silent',
    ...env,
  });
}
