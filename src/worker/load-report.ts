// Evaluated before tfjs (the worker entry imports it first): see src/protocol/worker-signals.ts.
import { reportLoadFailures } from '../protocol/worker-signals.js';

export const loadReport = reportLoadFailures(self as unknown as Parameters<typeof reportLoadFailures>[0]);
