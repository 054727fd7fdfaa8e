// Gauges of the tasks' findings and of waiting payouts, computed when /metrics is scraped from
// the tables (a few index scans), so they are true even if no tasks process runs.
import { Gauge, type Registry } from 'prom-client';
import { STUCK_STATUSES, type Config } from '../config.ts';
import type { Sql } from '../db/connect.ts';
import { parkedCounts } from '../tasks/stuck.ts';
import { waitingStats } from '../store/payouts.ts';
import { countReportedViolations } from '../store/tasks.ts';
import { ledgerOutboxStats } from '../store/ledger-outbox.ts';

export function registerTaskGauges(registry: Registry, sql: Sql, config: Readonly<Config>) {
  new Gauge({
    name: 'payout_integrity_violations',
    help: 'open disagreements between the ledger and the payouts (seen by two task runs in a row); 0 when all agree',
    registers: [registry],
    async collect() {
      this.set(await countReportedViolations(sql));
    },
  });
  // One query feeds both gauges: the second collects from what the first read in this scrape.
  let last: Promise<Awaited<ReturnType<typeof waitingStats>>> | undefined;
  new Gauge({
    name: 'payout_stuck',
    help: 'payouts waiting in a status longer than PAYOUT_STUCK_AFTER allows',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      last = waitingStats(sql, config.tasks.stuckAfterMs);
      const stats = await last;
      for (const s of STUCK_STATUSES) this.set({ status: s }, Number(stats.find((x) => x.status === s)?.stuck ?? 0));
    },
  });
  new Gauge({
    name: 'payout_oldest_seconds',
    help: 'how long the oldest payout in a status has waited there (0: none waiting)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const stats = await (last ?? waitingStats(sql, config.tasks.stuckAfterMs));
      last = undefined;
      for (const s of STUCK_STATUSES) this.set({ status: s }, Number(stats.find((x) => x.status === s)?.oldest_seconds ?? 0));
    },
  });
  new Gauge({
    name: 'payout_parked',
    help: 'rows the gates gave up on, waiting for a person (POST .../retry): kind=payout status parked, kind=request status error',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const n = await parkedCounts(sql);
      this.set({ kind: 'payout' }, n.payout);
      this.set({ kind: 'request' }, n.request);
    },
  });
  // The receiver's ledger events committed but not in the ledger yet: a few for a moment is the
  // normal flow; a growing count or age means the ledger is down; refused ones need a person.
  let outbox: ReturnType<typeof ledgerOutboxStats> | undefined;
  new Gauge({
    name: 'payout_ledger_outbox',
    help: 'receiver ledger events in the ledger outbox: state=waiting (not yet sent), state=refused (the ledger refused them: a person settles them, docs/operations.md)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      outbox = ledgerOutboxStats(sql);
      const n = await outbox;
      this.set({ state: 'waiting' }, n.waiting);
      this.set({ state: 'refused' }, n.refused);
    },
  });
  new Gauge({
    name: 'payout_ledger_outbox_oldest_seconds',
    help: 'how long the oldest ledger outbox event not yet sent (and not refused) has waited (0: none)',
    registers: [registry],
    async collect() {
      const n = await (outbox ?? ledgerOutboxStats(sql));
      outbox = undefined;
      this.set(n.oldestSeconds);
    },
  });
}
