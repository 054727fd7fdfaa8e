// `payout accounts credit …` against a running stand-in.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCreditArgs, runCredit } from '../../src/standins/accounts/credit.ts';
import { startStandin, type Standin } from './support.ts';

let s: Standin;
beforeAll(async () => {
  s = await startStandin();
});

const args = (...extra: string[]) => ['--namespace', 'taxi', '--client', '4242', '--contract', '7', '--service', '124', '--currency', 'RUB', '--amount', '100.00', ...extra];

describe('payout accounts credit', () => {
  it('credits the payout account and prints the batch and the balances', async () => {
    const lines: string[] = [];
    await runCredit(s.url, args('--info', '{"dry_run":false}', '--external-id', 'cli-1'), (l) => lines.push(l));
    await runCredit(s.url, args('--amount', '0.5'), (l) => lines.push(l));
    const last = JSON.parse(lines[1]!);
    expect(last.accounts).toEqual([{
      loc: { namespace: 'taxi', type: 'payout', client_id: '4242', contract_id: '7', service_id: '124', currency: 'RUB' },
      debit: '0', credit: '100.5', balance: '100.5',
    }]);
    const batch = await s.client.getBatch('cli-1');
    expect(batch).toMatchObject({ batch_id: JSON.parse(lines[0]!).batch_id, event_type: 'accrual', info: { dry_run: false } });
    // the same external_id again is a repeat, not a second credit
    await runCredit(s.url, args('--info', '{"dry_run":false}', '--external-id', 'cli-1'), () => {});
    expect((await s.client.listAccounts({ namespace: 'taxi', type: 'payout', client_id: '4242' }))[0]!.balance).toBe('100.5');
  });

  it('refuses bad arguments before calling anything', () => {
    expect(() => parseCreditArgs(['--namespace', 'taxi'])).toThrow(/missing --client/);
    expect(() => parseCreditArgs(args('--amount', '-5'))).toThrow(/--amount/);
    expect(() => parseCreditArgs(args('--info', '[1]'))).toThrow(/--info/);
    expect(() => parseCreditArgs(args('--colour', 'red'))).toThrow(/colour/);
  });

  it('says so when the service is not running', async () => {
    await expect(runCredit('http://127.0.0.1:9', args(), () => {})).rejects.toThrow(/unreachable/);
  });
});
