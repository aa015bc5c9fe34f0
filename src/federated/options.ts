/** Federated learning options of `init({ federated })`. Owned by the federated module; extend here. */
export interface FederatedOptions {
  /** Base URL of the aggregation server, e.g. `https://fl.example.com`. */
  serverUrl: string;
  /** The site's upload key (public, per site; the server rate-limits per client). */
  siteKey: string;
  /** Take part automatically when idle and consented (default true). */
  autoParticipate?: boolean;
}
