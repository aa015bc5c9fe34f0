// Evaluated before tfjs (the worker entry imports it first): see src/engine/worker-signals.ts.
import { reportLoadFailures } from '../src/engine/worker-signals.js';

export const loadReport = reportLoadFailures(self as unknown as Parameters<typeof reportLoadFailures>[0]);
