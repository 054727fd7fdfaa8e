// The stand-in lists many clients' accounts (req-gate's one call per batch) with one index probe
// per client. With statistics taken while the table was small, a join read every account of the
// namespace and type for each call (9 ms for 100 clients among 4,000 in the e2e benchmark).
import { expect, it } from 'vitest';
import { connect } from '../../src/db/connect.ts';
import { listAccountsOfClients } from '../../src/standins/accounts/store/accounts.ts';
import { indexTuplesRead } from '../support/pg-counters.ts';
import { startStandin } from './support.ts';

it('listing 100 clients among 4,000 the statistics do not know reads about their accounts, not all of them', async () => {
  const s = await startStandin();
  const actor = connect(s.db.url, { max: 1, app: 'list-cost' });
  try {
    await s.db.sql`analyze accounts.account`;
    await s.db.sql`
      insert into accounts.account (loc_key, namespace, type, client_id, contract_id, service_id, currency, credit)
      select format('["taxi","payout","%s","7","124","RUB"]', 9000000 + i), 'taxi', 'payout', (9000000 + i)::text, '7', '124', 'RUB', i
      from generate_series(1, 4000) as i`;
    const asked = Array.from({ length: 100 }, (_, i) => String(9000000 + 4000 - 2 * i));
    let rows: Awaited<ReturnType<typeof listAccountsOfClients>> = [];
    const tuples = await indexTuplesRead(s.db.sql, actor, 1, 'account', async () => {
      rows = await listAccountsOfClients(actor, { namespace: 'taxi', type: 'payout', client_ids: asked });
    });
    expect(rows.map((r) => r.client_id)).toEqual(asked); // one each, in the order asked
    expect(rows[0]).toMatchObject({ balance: '4000', contract_id: '7' });
    expect(tuples).toBeLessThan(500);
  } finally {
    await actor.end();
  }
});
