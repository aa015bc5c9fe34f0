/** Federated learning options of `init({ federated })`. Owned by the federated module; extend here. */
export interface FederatedOptions {
  /** Base URL of the aggregation server, e.g. `https://fl.example.com`. */
  serverUrl: string;
  /** The site's upload key (public, per site; the server rate-limits per client). */
  siteKey: string;
  /** Take part automatically when idle and consented (default true). */
  autoParticipate?: boolean;
  /** Upload attempts and back-off (defaults: 4 attempts, 1 s doubling to at most 30 s, full jitter). */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** Sit a round out with fewer local training sequences than this (default 1). */
  minSequences?: number;
}
