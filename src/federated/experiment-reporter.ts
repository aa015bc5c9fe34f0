/**
 * The device's private experiment report: one run, in the engine's worker, at idle time or on
 * `hearth.experiments.report()`.
 *
 * For every experiment (and optimisation) this device was exposed to, whose attribution window has
 * passed and which it has not reported yet, and which the server's registry lists with the same
 * variants: compute the outcome from the events stored on the device, then send it once through
 * the server's channel —
 *
 * - `central`: the rows of all ready experiments in one fixed-length 0/1 vector, summed by the
 *   server with Gaussian noise calibrated to each experiment's ε;
 * - `secure`: the same vector, masked for a cohort of devices with a Skellam share of the noise
 *   (`secure-aggregation.ts`): on one run the device joins the round's cohort with a one-round key,
 *   on a later one (once the cohort is full) it sends its masked vector — which it then must, even
 *   with nothing left to report, or the cohort's masks cannot cancel;
 * - randomized response (the server's `local` channel, or the fallback once a device has failed
 *   `fallbackAfter` rounds): one privatised category per experiment, ε-locally private.
 *
 * Nothing is sent without `contribute` and `personalise`, under Global Privacy Control or
 * `saveData`, or when there is nothing to report (no request at all). Requests carry no cookie,
 * no referrer, no event, item, time or id of the shopper; report ids are random per report.
 * A device reports an experiment once, and refuses a mechanism that would spend more than the
 * experiment's ε (see `experiment-privacy.ts`).
 */
import type { HearthStore } from '../store/types.js';
import type { ExperimentReportResult, LayoutExperiment, ReportChannel, ReportLayout } from '../protocol/experiments.js';
import type { ExperimentsInfo } from '../protocol/experiments-http.js';
import type { Capabilities } from '../shared/env.js';
import { SITE_KEY_HEADER } from '../protocol/aggregation-headers.js';
import { HearthError } from '../protocol/errors.js';
import { backoffDelay } from '../shared/backoff.js';
import { secureRandom, type RandomSource } from '../shared/random.js';
import { categoryCount, categoryOf, writeOutcome, type DeviceOutcome } from '../experiments/layout.js';
import { metricBits, windowOutcome } from '../experiments/attribution.js';
import { randomize } from '../experiments/randomized-response.js';
import { EXPERIMENTS_META_KEY, PRIORS_META_KEY, readMeta, resolveShowings, type DeviceRecord, type ExperimentsMeta } from '../experiments/device-records.js';
import { budgetProblem, reportEpsilon, rrParamsOf, type Mechanism } from './experiment-privacy.js';
import { encodeWords, generateCohortKey, maskReport, maskSalt, subtleCrypto } from './secure-aggregation.js';
import { errorCode } from './http-error.js';

/** The meta key of this device's membership of a secure round's cohort (its one-round private key). */
export const SECURE_META_KEY = 'experiments.secure';

/** A cohort membership: the round, the layout and the one-round key pair (the private key is non-extractable). */
interface CohortMembership {
  roundId: number;
  layoutId: string;
  keyId: string;
  publicKey: string;
  privateKey: CryptoKey;
}

export interface ExperimentReportDeps {
  serverUrl: string;
  siteKey: string;
  store: Pick<HearthStore, 'getMeta' | 'setMeta' | 'updateMeta' | 'readEvents'>;
  consent: { personalise: boolean | null; contribute: boolean | null };
  capabilities: Pick<Capabilities, 'globalPrivacyControl' | 'saveData'>;
  fetch?: typeof fetch;
  /** Coins of randomized response, revenue rounding, report ids, back-off jitter (default: the CSPRNG). */
  random?: RandomSource;
  now?: () => number;
  signal?: AbortSignal;
  /** Attempts per request (default 3), back-off from 1 s. */
  attempts?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** WebCrypto for secure rounds (default: the runtime's; null: none, so randomized response). */
  subtle?: SubtleCrypto | null;
}

/** A ready experiment: its record, its layout entry and the outcome to report. */
interface Ready {
  name: string;
  entry: LayoutExperiment;
  outcome: DeviceOutcome;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function mechanismOf(channel: ReportChannel): Mechanism {
  return channel === 'central' ? 'vector' : channel;
}

/** 16 random bytes as 22 base64url characters (from `random`, the CSPRNG in production). */
export function reportId(random: RandomSource): string {
  let out = '';
  for (let i = 0; i < 22; i++) out += B64URL[Math.floor(random() * 64)] ?? 'A';
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function isInfo(value: unknown): value is ExperimentsInfo {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const layout = v.layout as ReportLayout | undefined;
  return (
    typeof v.roundId === 'number' &&
    (v.channel === 'central' || v.channel === 'secure' || v.channel === 'local') &&
    typeof v.layoutId === 'string' &&
    typeof layout === 'object' &&
    layout !== null &&
    Array.isArray(layout.experiments) &&
    typeof layout.length === 'number' &&
    layout.length <= 65_536 &&
    typeof v.fallbackAfter === 'number' &&
    typeof v.priors === 'object'
  );
}

/** Why the layout the server sent is not one an honest device can fill, or undefined. */
function layoutProblem(layout: ReportLayout): string | undefined {
  let offset = 0;
  for (const e of layout.experiments) {
    if (!e || typeof e.name !== 'string' || !Array.isArray(e.variants) || !Array.isArray(e.metrics) || e.offset !== offset || e.rowCells !== 1 + e.metrics.length) return 'bad_layout';
    offset += e.rowCells * e.variants.length;
  }
  return offset === layout.length ? undefined : 'bad_layout';
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new HearthError('aborted', 'experiment report cancelled'));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new HearthError('aborted', 'experiment report cancelled'));
      },
      { once: true },
    );
  });
}

/**
 * Runs one report. Never throws for runtime trouble (offline, a server that moved on or refuses):
 * the result says what happened. Throws `HearthError('aborted')` when `signal` aborts.
 *
 * @example
 * ```ts
 * const result = await runExperimentReport({ serverUrl, siteKey, store, consent, capabilities: detectCapabilities() });
 * ```
 */
export async function runExperimentReport(deps: ExperimentReportDeps): Promise<ExperimentReportResult> {
  if (deps.consent.contribute !== true) return { status: 'skipped', reason: 'no_consent' };
  if (deps.consent.personalise !== true) return { status: 'skipped', reason: 'no_consent' };
  if (deps.capabilities.globalPrivacyControl) return { status: 'skipped', reason: 'global_privacy_control' };
  if (deps.capabilities.saveData) return { status: 'skipped', reason: 'save_data' };
  const random = deps.random ?? secureRandom();
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const doFetch = deps.fetch ?? globalThis.fetch.bind(globalThis);
  const base = deps.serverUrl.replace(/\/+$/, '');
  const checkAbort = (): void => {
    if (deps.signal?.aborted) throw new HearthError('aborted', 'experiment report cancelled');
  };
  // No cookies, no referrer (the page URL could name a product), no caches in between.
  const init = (extra: RequestInit = {}): RequestInit => ({ credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store', ...(deps.signal ? { signal: deps.signal } : {}), ...extra });

  const meta = readMeta(await deps.store.getMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY).catch(() => undefined));
  const candidates = Object.entries(meta.records).filter(([, r]) => r.report === null && (r.kind === 'experiment' ? r.exposedAt !== null : r.first !== null || r.pending.length > 0));
  const membership = await deps.store.getMeta<CohortMembership>(SECURE_META_KEY).catch(() => undefined);
  if (candidates.length === 0 && !membership) return { status: 'skipped', reason: 'nothing_to_report' };

  // 1. The registry, the round and the priors.
  let info: unknown;
  try {
    const response = await doFetch(`${base}/v1/experiments`, init());
    if (!response.ok) return { status: 'missed', reason: `http_${response.status}` };
    info = await response.json();
  } catch {
    checkAbort();
    return { status: 'missed', reason: 'network' };
  }
  if (!isInfo(info) || layoutProblem(info.layout)) return { status: 'missed', reason: 'bad_experiments_info' };
  await deps.store.setMeta(PRIORS_META_KEY, info.priors).catch(() => undefined);

  // 2. What is ready: in the registry with the same variants, window passed, within budget.
  const since = Math.min(...candidates.map(([, r]) => (r.kind === 'experiment' ? (r.exposedAt as number) : (r.first?.at ?? r.pending[0]?.at ?? now()))));
  const events = await deps.store.readEvents({ since }).catch(() => []);
  const ready: Ready[] = [];
  const resolved = new Map<string, DeviceRecord>();
  for (const [name, raw] of candidates) {
    const entry = info.layout.experiments.find((e) => e.name === name && e.kind === raw.kind);
    if (!entry) continue;
    const windowMs = entry.windowHours * 3600_000;
    if (raw.kind === 'experiment') {
      if (!sameList(entry.variants, raw.variants) || now() < (raw.exposedAt as number) + windowMs) continue;
      const outcome = windowOutcome(events, raw.exposedAt as number, windowMs, entry.revenueCap);
      ready.push({ name, entry, outcome: { variant: entry.variants.indexOf(raw.variant), bits: metricBits(outcome, entry.metrics, entry.revenueCap, random()) } });
      continue;
    }
    if (!sameList(entry.variants, raw.arms) || entry.metrics[0] !== raw.reward) continue;
    const record = resolveShowings(raw, events, now());
    resolved.set(name, record);
    if (!record.first || record.first.rewarded === null) continue;
    ready.push({ name, entry, outcome: { variant: entry.variants.indexOf(record.first.arm), bits: [record.first.rewarded] } });
  }
  const subtle = deps.subtle === undefined ? subtleCrypto() : (deps.subtle ?? undefined);
  const secureRound = info.channel === 'secure' && info.secure !== undefined && subtle !== undefined;
  // A membership of a round that moved on (or of another registry) failed: its cohort was released or abandoned without this device.
  const member = membership && membership.roundId === info.roundId && membership.layoutId === info.layoutId && secureRound ? membership : undefined;
  let lapsed = 0;
  if (membership && !member) {
    await deps.store.setMeta(SECURE_META_KEY, undefined).catch(() => undefined);
    // Its cohort closed without this device's masked vector: one failed attempt for what it was to report.
    await deps.store
      .updateMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY, (current) => {
        const next = readMeta(current);
        for (const [name, record] of Object.entries(next.records)) if (record.report === null) next.records[name] = { ...record, attempts: record.attempts + 1 };
        return next;
      })
      .catch(() => undefined);
    lapsed = 1;
  }
  if (ready.length === 0 && !member) return { status: 'skipped', reason: 'nothing_ready' };

  const byVector: Ready[] = [];
  const bySecure: Ready[] = [];
  const byRr: Ready[] = [];
  let overBudget = 0;
  for (const item of ready) {
    const record = meta.records[item.name] as DeviceRecord;
    const fallback = info.channel === 'local' || (info.channel === 'secure' && !secureRound) || record.attempts + lapsed >= info.fallbackAfter;
    const mechanism: Mechanism = fallback ? 'randomized-response' : info.channel === 'secure' ? 'secure' : 'vector';
    if (budgetProblem(item.entry, mechanism) !== undefined || item.entry.rr.categories !== categoryCount(item.entry)) {
      overBudget++;
      continue;
    }
    (mechanism === 'randomized-response' ? byRr : mechanism === 'secure' ? bySecure : byVector).push(item);
  }
  if (byVector.length + bySecure.length + byRr.length === 0 && !member) return { status: 'rejected', reason: overBudget > 0 ? 'over_budget' : 'nothing_ready' };

  /** Posts `body` with bounded retries; the answer's JSON error code, or 'ok'. */
  const post = async (url: string, body: string): Promise<string> => {
    const attempts = Math.max(1, deps.attempts ?? 3);
    let reason = 'network';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let response: Response | undefined;
      try {
        response = await doFetch(url, init({ method: 'POST', headers: { 'content-type': 'application/json', [SITE_KEY_HEADER]: deps.siteKey }, body }));
      } catch {
        checkAbort();
      }
      if (response?.ok) return 'ok';
      if (response) {
        reason = await errorCode(response);
        // A replay means an earlier attempt arrived and only its answer was lost.
        if (reason === 'replay') return 'ok';
        if (!(response.status >= 500 || response.status === 429 || response.status === 408)) return reason;
      }
      if (attempt < attempts) await sleep(backoffDelay(attempt, 1000, 30_000, random), deps.signal);
    }
    return reason;
  };

  /** Marks `names` reported (or one more failed attempt), atomically with whatever the page changed meanwhile. */
  const settle = async (items: readonly Ready[], channel: ReportChannel | null, roundId: number | null): Promise<void> => {
    await deps.store.updateMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY, (current) => {
      const next = readMeta(current);
      for (const item of items) {
        let record = next.records[item.name];
        if (!record) continue;
        // Of a bandit, only the first showing's outcome is the worker's to settle; the page resolves
        // the other showings into its own counts when it next chooses an arm.
        const fresh = resolved.get(item.name);
        if (record.kind === 'bandit' && fresh?.kind === 'bandit' && record.first?.rewarded === null && fresh.first?.at === record.first.at) record = { ...record, first: fresh.first };
        next.records[item.name] = channel
          ? { ...record, report: { at: now(), channel, epsilon: reportEpsilon(item.entry, mechanismOf(channel)), roundId }, pendingReportId: undefined }
          : { ...record, attempts: record.attempts + 1 };
      }
      return next;
    });
  };

  /** The id of a report about `items`: the one a failed attempt left, else a new one, stored before sending. */
  const idFor = async (items: readonly Ready[]): Promise<string> => {
    const previous = items.map((i) => meta.records[i.name]?.pendingReportId);
    const id = previous[0] !== undefined && previous.every((p) => p === previous[0]) ? previous[0] : reportId(random);
    await deps.store.updateMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY, (current) => {
      const next = readMeta(current);
      for (const item of items) {
        const record = next.records[item.name];
        if (record) next.records[item.name] = { ...record, pendingReportId: id };
      }
      return next;
    });
    return id;
  };

  const reported: NonNullable<ExperimentReportResult['reported']> = [];
  let failure: string | undefined;
  let waiting: string | undefined;

  // 3a. Secure rounds: join the cohort, or (once it is full) send the masked vector.
  const cohortProblem = (keys: unknown): boolean =>
    !Array.isArray(keys) || keys.length > 10_000 || !keys.every((k: { keyId?: unknown; publicKey?: unknown } | null) => typeof k?.keyId === 'string' && typeof k.publicKey === 'string');
  if (secureRound && info.secure && cohortProblem(info.secure.keys)) return { status: 'missed', reason: 'bad_experiments_info' };
  if (secureRound && info.secure && subtle && (bySecure.length > 0 || member)) {
    const cohort = info.secure;
    if (cohort.phase === 'enrol') {
      if (member) waiting = 'cohort_forming';
      else {
        const pair = await generateCohortKey(subtle).catch(() => undefined);
        const joined: CohortMembership | undefined = pair && { roundId: info.roundId, layoutId: info.layoutId, keyId: reportId(random), publicKey: pair.publicKey, privateKey: pair.privateKey };
        // Stored before it is sent: a device that enrolled must be able to send its masked vector.
        const kept = joined
          ? await deps.store.setMeta(SECURE_META_KEY, joined).then(
              () => true,
              () => false,
            )
          : false;
        checkAbort();
        const answer =
          !joined || !kept ? 'no_key' : await post(`${base}/v1/experiments/rounds/${info.roundId}/keys`, JSON.stringify({ keyId: joined.keyId, publicKey: joined.publicKey, layoutId: info.layoutId }));
        if (answer === 'ok') waiting = 'enrolled';
        else {
          await deps.store.setMeta(SECURE_META_KEY, undefined).catch(() => undefined);
          if (answer === 'cohort_closed') waiting = 'cohort_full';
          else failure = answer;
        }
      }
    } else if (member && cohort.keys.some((k) => k.keyId === member.keyId)) {
      const vector = new Uint8Array(info.layout.length);
      for (const item of bySecure) writeOutcome(vector, item.entry, item.outcome);
      const mu = new Float64Array(info.layout.length);
      for (const e of info.layout.experiments) mu.fill(e.secureMu / cohort.keys.length, e.offset, e.offset + e.rowCells * e.variants.length);
      // A key the server listed that is not a P-256 point fails here: the report is then not sent.
      const masked = await maskReport({
        subtle,
        vector,
        keyId: member.keyId,
        privateKey: member.privateKey,
        cohort: cohort.keys,
        salt: maskSalt(info.roundId, info.layoutId),
        noiseMu: (cell) => mu[cell] as number,
        random,
      }).catch(() => undefined);
      checkAbort();
      const answer = masked
        ? await post(`${base}/v1/experiments/rounds/${info.roundId}/masked`, JSON.stringify({ keyId: member.keyId, layoutId: info.layoutId, masked: encodeWords(masked) }))
        : 'bad_cohort_key';
      await deps.store.setMeta(SECURE_META_KEY, undefined).catch(() => undefined);
      if (answer === 'ok') {
        await settle(bySecure, 'secure', info.roundId);
        for (const item of bySecure) reported.push({ name: item.name, channel: 'secure', epsilon: reportEpsilon(item.entry, 'secure') });
      } else {
        await settle(bySecure, null, null);
        failure = answer;
      }
    } else if (member) {
      // Enrolled, but the cohort filled without this key: the membership lapses.
      await deps.store.setMeta(SECURE_META_KEY, undefined).catch(() => undefined);
      waiting = 'cohort_full';
    } else waiting = 'cohort_full';
  }

  // 3. One vector for every experiment going by the round.
  if (byVector.length > 0) {
    const vector = new Uint8Array(info.layout.length);
    for (const item of byVector) writeOutcome(vector, item.entry, item.outcome);
    const id = await idFor(byVector);
    checkAbort();
    const answer = await post(`${base}/v1/experiments/rounds/${info.roundId}/reports`, JSON.stringify({ reportId: id, layoutId: info.layoutId, cells: Array.from(vector).join('') }));
    if (answer === 'ok') {
      await settle(byVector, 'central', info.roundId);
      for (const item of byVector) reported.push({ name: item.name, channel: 'central', epsilon: reportEpsilon(item.entry, 'vector') });
    } else {
      await settle(byVector, null, null);
      failure = answer;
    }
  }

  // 4. Randomized response, one report per experiment.
  for (const item of byRr) {
    const params = rrParamsOf(item.entry);
    const report = randomize(params, categoryOf(item.entry.metrics.length, item.outcome), random);
    const id = await idFor([item]);
    checkAbort();
    const body = {
      reportId: id,
      layoutId: info.layoutId,
      experiment: item.name,
      mechanism: report.mechanism,
      ...(report.mechanism === 'krr' ? { value: report.value } : { bits: Array.from(report.bits).join('') }),
    };
    const answer = await post(`${base}/v1/experiments/rr`, JSON.stringify(body));
    if (answer === 'ok') {
      await settle([item], 'randomized-response', null);
      reported.push({ name: item.name, channel: 'randomized-response', epsilon: reportEpsilon(item.entry, 'randomized-response') });
    } else {
      await settle([item], null, null);
      failure ??= answer;
    }
  }

  if (reported.length > 0) return failure ? { status: 'reported', reason: `partly: ${failure}`, reported } : { status: 'reported', reported };
  if (waiting && !failure) return { status: 'waiting', reason: waiting };
  const moved = failure === 'wrong_round' || failure === 'wrong_layout' || failure === 'network' || failure?.startsWith('http_5');
  return { status: moved ? 'missed' : 'rejected', reason: failure ?? 'unknown' };
}
