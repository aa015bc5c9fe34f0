/** The shopper's consent decision, as the page records it and the worker checks it with every call. */

/** The two consent scopes. `null` means the shopper has not decided. */
export interface ConsentState {
  /** Learn from behaviour on this device and personalise this device. */
  personalise: boolean | null;
  /** Send clipped, noised model updates to improve the shop's shared model. */
  contribute: boolean | null;
  /** When the shopper last decided, ms since the epoch. */
  updatedAt: number | null;
}
