// A location addresses one account: namespace, type and attributes. Every attribute is part of
// the identity, including its absence, so the key spells absent attributes as `null` and a loc
// with no contract_id is a different account from one with any contract_id.
export interface Loc {
  namespace: string;
  type: string;
  client_id: string;
  contract_id?: string;
  service_id?: string;
  currency?: string;
}

export const ATTRIBUTES = ['contract_id', 'service_id', 'currency'] as const;

/** Canonical identity: a JSON array in a fixed order (also the fixed order rows are created in). */
export function locKey(loc: Loc): string {
  return JSON.stringify([loc.namespace, loc.type, loc.client_id, loc.contract_id ?? null, loc.service_id ?? null, loc.currency ?? null]);
}

export interface LocColumns {
  namespace: string;
  type: string;
  client_id: string;
  contract_id: string | null;
  service_id: string | null;
  currency: string | null;
}

/** The loc as it goes out on the wire: absent attributes are left out, not sent as null. */
export function locOf(row: LocColumns): Loc {
  const loc: Loc = { namespace: row.namespace, type: row.type, client_id: row.client_id };
  for (const a of ATTRIBUTES) if (row[a] !== null) loc[a] = row[a];
  return loc;
}

/** Distinct keys in sorted order: the fixed order that keeps concurrent writers from deadlocking. */
export const sortedKeys = (locs: readonly Loc[]): string[] => [...new Set(locs.map(locKey))].sort();
