// The one place that reads PAYOUT_* environment variables. Everything is parsed and validated
// once, every problem is collected, and the result is a frozen, typed object that components
// receive as a parameter (tests build their own with `loadConfig({...})`).
import path from 'node:path';

export interface ApiCaller {
  name: string;
  /** Namespaces this caller may use; `["*"]` means all configured namespaces. */
  namespaces: string[];
}

/** How the OEBS stand-in answers a client's payouts (see src/standins/oebs/answers.ts). */
export const OEBS_EMULATOR_BEHAVIOURS = ['accept', 'reject', 'return', 'silent'] as const;
export type OebsEmulatorBehaviour = (typeof OEBS_EMULATOR_BEHAVIOURS)[number];

/** `PAYOUT_LOG_FORMAT`: `auto` is pretty on a terminal and JSON anywhere else (src/log.ts decides). */
export const LOG_FORMAT_SETTINGS = ['auto', 'json', 'pretty'] as const;
export type LogFormatSetting = (typeof LOG_FORMAT_SETTINGS)[number];

export interface Config {
  env: string;
  logLevel: string;
  /** PAYOUT_LOG_FORMAT: json, pretty, or auto (pretty on a terminal; see src/log.ts). */
  logFormat: LogFormatSetting;
  namespaces: string[];
  db: {
    /** Set: use this Postgres. Unset: start (or reuse) the embedded one. */
    url: string | undefined;
    dataDir: string;
    embeddedPort: number;
    poolSize: number;
  };
  api: { host: string; port: number; tokens: Map<string, ApiCaller>; bodyLimit: number };
  /** url: where payout reaches the accounts system; host/port: where the stand-in listens. */
  accounts: {
    url: string; host: string; port: number; timeoutMs: number;
    /** How long the sender's lock on an account lives if the sender dies holding it. */
    lockTimeoutS: number;
  };
  reqGate: { intervalMs: number; limit: number };
  oebsGate: { intervalMs: number; limit: number };
  /** How long an OEBS answer may wait for its payouts' ARD NEW before it goes to the errors topic. */
  /** batch: messages the receiver applies as one batch per round (0: one by one, each in its own transaction). */
  receiver: { maxWaitMs: number; batch: number };
  /**
   * Transient failures of a request's or payout's accounts calls: the n-th failed attempt waits
   * min(capMs, baseMs · 2^(n−1)) before the next; the maxAttempts-th parks the row (src/domain/retry.ts).
   */
  retry: { baseMs: number; capMs: number; maxAttempts: number };
  topics: {
    backend: 'postgres' | 'nats';
    /** One NATS server or a comma-separated list of nodes of a cluster. */
    natsUrl: string;
    /** Replicas of each JetStream stream payout creates: 1 on a single server, 3 on a three-node cluster. */
    natsReplicas: number;
    /** namespace → topic base path (`/billing-payout/<env>/oebs` unless PAYOUT_TOPIC_BASES says otherwise). */
    bases: Map<string, string>;
  };
  /** Namespaces whose payouts wait for manual approval; `global` = all of them. */
  approveRequired: 'global' | string[];
  /** namespace → client ids allowed real (non-dry-run) payouts; a namespace absent = all allowed. */
  allowedNs: Map<string, Set<string>>;
  /** Named crash points for tests (see src/failpoints.ts). */
  failpoints: string[];
  /** Set: each failpoint fires once across restarts (marker files in this folder). */
  failpointsOnceDir: string | undefined;
  /** Where a worker process serves /metrics; 0 = not served. */
  metricsPort: number;
  /** `payout start`: how many processes of each gate (req-gate, oebs-gate) to run. */
  gateReplicas: number;
  /** OEBS stand-in: client id → its behaviour; a client absent is accepted. */
  oebsEmulator: { byClient: Map<string, OebsEmulatorBehaviour> };
  money: {
    /** currency → decimals of its minor unit, for currencies that do not have 2 (JPY: 0). */
    minorDecimals: Map<string, number>;
    /**
     * On (default): a positive balance that no accrual in the ledger explains is rejected, as the
     * original did. Off: such money is paid as real (not dry-run) money.
     */
    processDryRun: boolean;
  };
  /** `payout tasks`: periodic checks and housekeeping (src/tasks). */
  tasks: {
    intervalMs: number;
    /** A payout in this status longer than this (since its last change) is stuck. */
    stuckAfterMs: Record<StuckStatus, number>;
    /** Topic messages consumed by every group and older than this are deleted; JetStream's max_age. */
    topicRetentionMs: number;
    /** Finished requests (done/error) older than this are deleted, with their finished payouts' history kept. */
    requestRetentionMs: number;
  };
  /** The api's back-pressure: every POST /payout-by-client is answered within deadlineMs; at most maxQueue wait. */
  apiLimits: { deadlineMs: number; maxQueue: number };
  /** Set: /metrics and /docs of the api (and workers' /metrics) need `Authorization: Bearer <it>`. */
  metricsToken: string | undefined;
}

/** Tokens printed in the README and .env.example: fine on a laptop, refused anywhere else. */
export const EXAMPLE_TOKENS: readonly string[] = ['dev-token', 'example-token', 'changeme', 'secret', 'token'];

/** Only `PAYOUT_ENV=dev` accepts what is safe on a laptop only (the example tokens). */
function checkSafeDefaults(r: Reader, c: Config) {
  if (c.env === 'dev') return;
  for (const token of c.api.tokens.keys()) {
    if (EXAMPLE_TOKENS.includes(token)) r.problems.push(`PAYOUT_API_TOKENS: the example token "${token}" is refused outside PAYOUT_ENV=dev (PAYOUT_ENV=${c.env})`);
  }
  if (c.metricsToken !== undefined && EXAMPLE_TOKENS.includes(c.metricsToken)) {
    r.problems.push(`PAYOUT_METRICS_TOKEN: an example token is refused outside PAYOUT_ENV=dev (PAYOUT_ENV=${c.env})`);
  }
}

/** Statuses a payout may wait in; each has its own stuck threshold. */
export const STUCK_STATUSES = ['new', 'pending', 'confirmed'] as const;
export type StuckStatus = (typeof STUCK_STATUSES)[number];
// The original's retardation alerts: a payout not sent within the hour, not confirmed by ARD
// within a day, not paid by OEBS within five days.
const STUCK_DEFAULTS: Record<StuckStatus, string> = { new: '1h', pending: '24h', confirmed: '5d' };

function readStuckAfter(r: Reader): Record<StuckStatus, number> {
  const out = Object.fromEntries(STUCK_STATUSES.map((s) => [s, parseDuration(STUCK_DEFAULTS[s])!])) as Record<StuckStatus, number>;
  const raw = r.optional('PAYOUT_STUCK_AFTER');
  if (raw === undefined) return out;
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\w+)=(.+)$/.exec(part);
    const ms = m ? parseDuration(m[2]!) : undefined;
    if (!m || !(STUCK_STATUSES as readonly string[]).includes(m[1]!) || !ms) {
      r.problems.push(`PAYOUT_STUCK_AFTER: "${part}" is not <status>=<duration> with status one of ${STUCK_STATUSES.join(', ')}`);
      continue;
    }
    out[m[1] as StuckStatus] = ms;
  }
  return out;
}

// 1m doubling to 1h: 20 attempts take about 14 hours, so an outage of the accounts system shorter
// than half a day parks nothing, and a payout that cannot go is shown within a day.
function readRetry(r: Reader): Config['retry'] {
  const baseMs = r.duration('PAYOUT_RETRY_BACKOFF_BASE', '1m');
  const capMs = r.duration('PAYOUT_RETRY_BACKOFF_CAP', '1h');
  if (capMs < baseMs) r.problems.push(`PAYOUT_RETRY_BACKOFF_CAP (${capMs} ms) must not be below PAYOUT_RETRY_BACKOFF_BASE (${baseMs} ms)`);
  return { baseMs, capMs, maxAttempts: r.int('PAYOUT_MAX_ATTEMPTS', 20, 1, 1000) };
}

/** Decimals of the currency's minor unit: what a payout in it may carry (2 unless configured). */
export const minorDecimalsOf = (config: Pick<Config, 'money'>, currency: string): number =>
  config.money.minorDecimals.get(currency) ?? 2;

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `5m`, `1h`, `7d` (and a bare number of milliseconds). */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
}

type Env = Record<string, string | undefined>;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  str(name: string, fallback: string): string {
    const v = this.env[name];
    return v === undefined || v === '' ? fallback : v;
  }

  optional(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(`${name}=${raw}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  duration(name: string, fallback: string): number {
    const raw = this.str(name, fallback);
    const ms = parseDuration(raw);
    if (ms === undefined || ms <= 0) {
      this.problems.push(`${name}=${raw}: expected a duration like 500ms, 30s, 5m or 1h`);
      return parseDuration(fallback)!;
    }
    return ms;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.str(name, fallback);
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name}=${raw}: expected one of ${allowed.join(', ')}`);
      return fallback;
    }
    return raw as T;
  }

  json(name: string): unknown {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw);
    } catch {
      this.problems.push(`${name}: not valid JSON`);
      return undefined;
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');

function readTokens(r: Reader, namespaces: string[]): Map<string, ApiCaller> {
  const tokens = new Map<string, ApiCaller>();
  const raw = r.json('PAYOUT_API_TOKENS');
  if (raw === undefined) return tokens;
  if (!isObject(raw)) {
    r.problems.push('PAYOUT_API_TOKENS: expected {"<token>": {"name": "...", "namespaces": [...]}}');
    return tokens;
  }
  for (const [token, caller] of Object.entries(raw)) {
    if (!isObject(caller) || typeof caller.name !== 'string' || !isStringList(caller.namespaces)) {
      r.problems.push(`PAYOUT_API_TOKENS: token "${token.slice(0, 4)}…" needs {"name": string, "namespaces": string[]}`);
      continue;
    }
    const unknown = caller.namespaces.filter((ns) => ns !== '*' && !namespaces.includes(ns));
    if (unknown.length) r.problems.push(`PAYOUT_API_TOKENS: caller "${caller.name}" names unknown namespaces ${unknown.join(', ')}`);
    tokens.set(token, { name: caller.name, namespaces: caller.namespaces });
  }
  return tokens;
}

function readApproveRequired(r: Reader, namespaces: string[]): 'global' | string[] {
  const raw = r.optional('PAYOUT_APPROVE_REQUIRED');
  if (raw === undefined) return [];
  if (raw === 'global' || raw === '"global"') return 'global';
  const list = r.json('PAYOUT_APPROVE_REQUIRED');
  if (!isStringList(list)) {
    r.problems.push('PAYOUT_APPROVE_REQUIRED: expected "global" or a JSON list of namespaces');
    return [];
  }
  const unknown = list.filter((ns) => !namespaces.includes(ns));
  if (unknown.length) r.problems.push(`PAYOUT_APPROVE_REQUIRED: unknown namespaces ${unknown.join(', ')}`);
  return list;
}

function readAllowedNs(r: Reader): Map<string, Set<string>> {
  const allowed = new Map<string, Set<string>>();
  const raw = r.json('PAYOUT_ALLOWED_NS');
  if (raw === undefined) return allowed;
  if (!isObject(raw)) {
    r.problems.push('PAYOUT_ALLOWED_NS: expected {"<namespace>": [<client id>, ...]}');
    return allowed;
  }
  for (const [ns, clients] of Object.entries(raw)) {
    if (!Array.isArray(clients) || !clients.every((c) => /^\d+$/.test(String(c)))) {
      r.problems.push(`PAYOUT_ALLOWED_NS.${ns}: expected a list of client ids`);
      continue;
    }
    allowed.set(ns, new Set(clients.map(String)));
  }
  return allowed;
}

function readOebsEmulator(r: Reader): Map<string, OebsEmulatorBehaviour> {
  const byClient = new Map<string, OebsEmulatorBehaviour>();
  const raw = r.json('PAYOUT_OEBS_EMULATOR');
  if (raw === undefined) return byClient;
  if (!isObject(raw)) {
    r.problems.push(`PAYOUT_OEBS_EMULATOR: expected {"<client id>": "${OEBS_EMULATOR_BEHAVIOURS.join('" | "')}"}`);
    return byClient;
  }
  for (const [client, behaviour] of Object.entries(raw)) {
    if (!/^[1-9][0-9]{0,18}$/.test(client)) r.problems.push(`PAYOUT_OEBS_EMULATOR: "${client}" is not a client id`);
    else if (!(OEBS_EMULATOR_BEHAVIOURS as readonly unknown[]).includes(behaviour)) {
      r.problems.push(`PAYOUT_OEBS_EMULATOR.${client}: expected one of ${OEBS_EMULATOR_BEHAVIOURS.join(', ')}`);
    } else byClient.set(client, behaviour as OebsEmulatorBehaviour);
  }
  return byClient;
}

function readMinorDecimals(r: Reader): Map<string, number> {
  const decimals = new Map<string, number>();
  const raw = r.json('PAYOUT_CURRENCY_DECIMALS');
  if (raw === undefined) return decimals;
  if (!isObject(raw)) {
    r.problems.push('PAYOUT_CURRENCY_DECIMALS: expected {"<currency>": <decimals 0..2>}, e.g. {"JPY": 0}');
    return decimals;
  }
  for (const [currency, d] of Object.entries(raw)) {
    if (!/^[A-Z]{3}$/.test(currency)) r.problems.push(`PAYOUT_CURRENCY_DECIMALS: "${currency}" is not a 3-letter currency code`);
    // amount_oebs is numeric(24,2): a currency with more decimals would not fit it exactly.
    else if (!Number.isInteger(d) || (d as number) < 0 || (d as number) > 2) r.problems.push(`PAYOUT_CURRENCY_DECIMALS.${currency}: expected an integer from 0 to 2`);
    else decimals.set(currency, d as number);
  }
  return decimals;
}

// Topic paths become NATS subjects and stream names, so each segment keeps to a safe alphabet.
const TOPIC_BASE = /^(\/[A-Za-z0-9_-]+)+$/;

function readTopicBases(r: Reader, env: string, namespaces: string[]): Map<string, string> {
  const common = `/billing-payout/${env}/oebs`;
  if (!TOPIC_BASE.test(common)) r.problems.push(`PAYOUT_ENV=${env}: must fit a topic path segment ([A-Za-z0-9_-])`);
  const bases = new Map(namespaces.map((ns) => [ns, common]));
  const raw = r.json('PAYOUT_TOPIC_BASES');
  if (raw === undefined) return bases;
  if (!isObject(raw)) {
    r.problems.push('PAYOUT_TOPIC_BASES: expected {"<namespace>": "/base/path"}');
    return bases;
  }
  for (const [ns, base] of Object.entries(raw)) {
    if (!namespaces.includes(ns)) r.problems.push(`PAYOUT_TOPIC_BASES: unknown namespace ${ns}`);
    else if (typeof base !== 'string' || !TOPIC_BASE.test(base)) r.problems.push(`PAYOUT_TOPIC_BASES.${ns}: expected a path like /billing-payout/prod/oebs`);
    else bases.set(ns, base);
  }
  return bases;
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const r = new Reader(env);
  const namespaces = r.str('PAYOUT_NAMESPACES', 'taxi,oplata,bnpl').split(',').map((s) => s.trim()).filter(Boolean);
  if (!namespaces.every((ns) => /^[a-z][a-z0-9_-]{0,63}$/.test(ns))) {
    r.problems.push('PAYOUT_NAMESPACES: expected a comma-separated list of lowercase names');
  }
  const accountsPort = r.int('PAYOUT_ACCOUNTS_PORT', 8081, 1, 65535);
  // dev is the default on a laptop only: a production process must say which environment it is.
  const production = env.NODE_ENV === 'production';
  if (production && r.optional('PAYOUT_ENV') === undefined) r.problems.push('PAYOUT_ENV: required when NODE_ENV=production (dev is only the default elsewhere)');
  const envName = r.str('PAYOUT_ENV', production ? 'production' : 'dev');
  const config: Config = {
    env: envName,
    logLevel: r.oneOf('PAYOUT_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    logFormat: r.oneOf('PAYOUT_LOG_FORMAT', 'auto', LOG_FORMAT_SETTINGS),
    namespaces,
    db: {
      url: r.optional('PAYOUT_DB_URL'),
      dataDir: path.resolve(r.str('PAYOUT_DATA_DIR', '.data')),
      embeddedPort: r.int('PAYOUT_EMBEDDED_PG_PORT', 54329, 1, 65535),
      poolSize: r.int('PAYOUT_DB_POOL', 10, 1, 200),
    },
    api: {
      host: r.str('PAYOUT_API_HOST', '127.0.0.1'),
      port: r.int('PAYOUT_API_PORT', 8080, 0, 65535),
      tokens: readTokens(r, namespaces),
      bodyLimit: r.int('PAYOUT_API_BODY_LIMIT', 64 * 1024, 1024, 16 * 1024 * 1024),
    },
    accounts: {
      url: r.str('PAYOUT_ACCOUNTS_URL', `http://127.0.0.1:${accountsPort}`),
      host: r.str('PAYOUT_ACCOUNTS_HOST', '127.0.0.1'),
      port: accountsPort,
      timeoutMs: r.duration('PAYOUT_ACCOUNTS_TIMEOUT', '5s'),
      lockTimeoutS: Math.ceil(r.duration('PAYOUT_ACCOUNTS_LOCK_TIMEOUT', '30s') / 1000),
    },
    reqGate: { intervalMs: r.duration('PAYOUT_REQ_GATE_INTERVAL', '5m'), limit: r.int('PAYOUT_REQUEST_LIMIT', 500, 1, 100_000) },
    oebsGate: { intervalMs: r.duration('PAYOUT_OEBS_GATE_INTERVAL', '5m'), limit: r.int('PAYOUT_SENDER_LIMIT', 500, 1, 100_000) },
    receiver: { maxWaitMs: r.duration('PAYOUT_RECEIVER_MAX_WAIT', '1h'), batch: r.int('PAYOUT_RECEIVER_BATCH', 200, 0, 10_000) },
    retry: readRetry(r),
    topics: {
      backend: r.oneOf('PAYOUT_TOPICS', 'postgres', ['postgres', 'nats'] as const),
      natsUrl: r.str('PAYOUT_NATS_URL', 'nats://127.0.0.1:4222'),
      natsReplicas: r.int('PAYOUT_NATS_REPLICAS', 1, 1, 5),
      bases: readTopicBases(r, envName, namespaces),
    },
    approveRequired: readApproveRequired(r, namespaces),
    allowedNs: readAllowedNs(r),
    failpoints: r.str('PAYOUT_FAILPOINTS', '').split(',').map((s) => s.trim()).filter(Boolean),
    failpointsOnceDir: r.optional('PAYOUT_FAILPOINTS_ONCE_DIR'),
    metricsPort: r.int('PAYOUT_METRICS_PORT', 0, 0, 65535),
    gateReplicas: r.int('PAYOUT_GATE_REPLICAS', 1, 1, 16),
    oebsEmulator: { byClient: readOebsEmulator(r) },
    money: {
      minorDecimals: readMinorDecimals(r),
      processDryRun: ['on', 'true', '1'].includes(r.oneOf('PAYOUT_PROCESS_DRY_RUN', 'on', ['on', 'off', 'true', 'false', '1', '0'])),
    },
    tasks: {
      intervalMs: r.duration('PAYOUT_TASKS_INTERVAL', '1m'),
      stuckAfterMs: readStuckAfter(r),
      topicRetentionMs: r.duration('PAYOUT_TOPIC_RETENTION', '7d'),
      requestRetentionMs: r.duration('PAYOUT_REQUEST_RETENTION', '90d'),
    },
    apiLimits: {
      deadlineMs: r.duration('PAYOUT_API_DEADLINE', '5s'),
      maxQueue: r.int('PAYOUT_API_QUEUE', 10_000, 1, 1_000_000),
    },
    metricsToken: r.optional('PAYOUT_METRICS_TOKEN'),
  };
  checkSafeDefaults(r, config);
  if (r.problems.length) throw new ConfigError(r.problems);
  return Object.freeze(config);
}
