/**
 * Private experiment reports from the worker: one run at a time per device (a call while one runs
 * joins it; the shop's other tabs wait on a Web Lock), on the store the worker shares with the page.
 * Where to change when a device reports; what it reports is `federated/experiment-reporter.ts`.
 */
import type { ConsentState } from '../store/types.js';
import type { ExperimentReportResult } from '../protocol/experiments.js';
import { runExperimentReport } from '../federated/experiment-reporter.js';
import { detectCapabilities } from '../shared/env.js';
import type { EngineModels } from './engine-models.js';

const REPORT_LOCK = 'hearth-experiments-report';

export class ExperimentReporting {
  private inFlight: Promise<ExperimentReportResult> | null = null;
  private abort: AbortController | null = null;
  /** When the idle policy last ran a report (ms). */
  lastRunAt: number | null = null;

  constructor(private readonly models: EngineModels) {}

  report(consent: ConsentState | undefined): Promise<ExperimentReportResult> {
    this.inFlight ??= this.oneTabAtATime(() => this.run(consent)).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  cancel(): void {
    this.abort?.abort();
  }

  private async oneTabAtATime(run: () => Promise<ExperimentReportResult>): Promise<ExperimentReportResult> {
    const locks = (globalThis.navigator as (Navigator & { locks?: LockManager }) | undefined)?.locks;
    if (!locks?.request) return run();
    return (await locks.request(REPORT_LOCK, run)) as ExperimentReportResult;
  }

  private async run(consent: ConsentState | undefined): Promise<ExperimentReportResult> {
    const m = this.models;
    const fed = m.deps.federated;
    if (!fed) return { status: 'skipped', reason: 'not_configured' };
    this.lastRunAt = m.now();
    const abort = new AbortController();
    this.abort = abort;
    try {
      return await runExperimentReport({
        serverUrl: fed.serverUrl,
        siteKey: fed.siteKey,
        store: m.store,
        consent: { personalise: consent?.personalise ?? null, contribute: consent?.contribute ?? null },
        capabilities: detectCapabilities(),
        signal: abort.signal,
        now: () => m.now(),
        ...(m.deps.fetch ? { fetch: m.deps.fetch } : {}),
      });
    } finally {
      if (this.abort === abort) this.abort = null;
    }
  }
}
