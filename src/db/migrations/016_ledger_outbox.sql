-- The ledger outbox: the receiver's ledger events (cancel reserve, register, confirm, cancel
-- payout), each a batches/write request, committed in the same transaction as the status change
-- that decided it, and written to the ledger after the commit by one writer at a time, in id order
-- (src/oebs-gate/ledger-writer.ts). Before this table the receiver wrote the ledger first and
-- committed after: a crash between the two forgot the decision while the ledger kept its money,
-- and a later answer contradicting it moved the money a second time.
create table t_ledger_outbox (
  id bigserial primary key,
  -- No foreign key: every row is inserted for a payout its transaction holds locked (a check per
  -- event would cost each answer for nothing), and payouts are never deleted.
  payout_id bigint not null,
  -- The request exactly as decided (its external id is in it): every try sends these bytes.
  request text not null,
  -- Whether it moves money (not a register's 0): a refused one that does holds back the payout's
  -- later events; a refused trace holds back nothing.
  moves boolean not null,
  created_at timestamptz not null default now(),
  -- Set when the ledger refused the request for good (a conflict, a rejection): the row stays and,
  -- when it moves money, the payout's later rows wait behind it, until a person settles it
  -- (docs/operations.md).
  refused_at timestamptz,
  refusal text
);
-- Only refused rows are looked up by payout (the writer's "held behind" rule): the table is read
-- whole otherwise, oldest first, and stays small; an index of every row would cost each event twice.
create index t_ledger_outbox_refused on t_ledger_outbox (payout_id) where refused_at is not null;

-- The rows the writer may send: not refused, and not behind a refused row of the same payout that
-- moves money (its later events must not reach the ledger without it). The writer reads this, and
-- so does integrity's "busy account" rule: one definition for both.
create view t_ledger_outbox_sendable as
  select o.* from t_ledger_outbox o
  where o.refused_at is null
    and not exists (select 1 from t_ledger_outbox r where r.payout_id = o.payout_id and r.refused_at is not null and r.moves and r.id < o.id);
