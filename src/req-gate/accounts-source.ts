// req-gate's view of the accounts system: the client's payout accounts with their totals.
import type { AccountsClient } from '../accounts/client.ts';
import type { PayoutAccountsSource } from './gate.ts';

export function payoutAccountsSource(client: AccountsClient): PayoutAccountsSource {
  return {
    async listPayoutAccounts(namespace, clientIds) {
      const accounts = await client.listAccountsOf({ namespace, type: 'payout', client_ids: clientIds });
      return accounts.map((a) => ({
        namespace: a.loc.namespace,
        client_id: a.loc.client_id,
        contract_id: a.loc.contract_id,
        service_id: a.loc.service_id,
        currency: a.loc.currency,
        debit: a.debit,
        credit: a.credit,
      }));
    },
  };
}
