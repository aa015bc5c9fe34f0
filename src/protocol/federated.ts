/**
 * What the page, the worker and the aggregation server agree on about federated learning: the
 * options, the header of an update as it travels, and what a round's outcome looks like.
 */

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

export type QuantizationBits = 8 | 16;

export interface TensorHeader {
  name: string;
  shape: number[];
  /** Value of one quantization step; the decoded value is `q * scale`. */
  scale: number;
}

/** Everything that travels besides the quantized values. No event, item, time or user data. */
export interface UpdateHeader {
  format: number;
  modelVersion: string;
  roundId: number;
  /** Random per upload, for replay protection; not linked to the shopper. */
  updateId: string;
  bits: QuantizationBits;
  tensors: TensorHeader[];
}

/** What one secure upload cost and what it sent, for the privacy centre and the benchmark. */
export interface SecureUploadRecord {
  format: 'secagg';
  modelVersion: string;
  roundId: number;
  /** This client's index in the round (a number the server handed out; not linked to the shopper). */
  index: number;
  cohort: number;
  threshold: number;
  sharers: number;
  survivors: number;
  modulusBits: 32;
  /** Skellam variance this client added per value (on the integer grid); 0 without DP. */
  noiseVariance: number;
  /** Request body bytes by phase; each is fixed by the model, the round and the cohort. */
  bytes: { join: number; shares: number; masked: number; unmask: number };
  /** Milliseconds of computation on this client (keys, shares, encoding, noise, masks), network waits excluded. */
  cpuMs: number;
  tensors: { name: string; shape: number[] }[];
}

export interface UploadRecord {
  /** When the upload finished (local time; kept on the device, never sent). */
  at: number;
  url: string;
  /** Bytes of the request body (compressed). */
  bytes: number;
  /** Bytes before compression. */
  rawBytes: number;
  /**
   * The header as sent (model version, round id, update id, bits, tensor names, shapes, scales),
   * or, for a secure round, what the client told the round (its index, the cohort, the bytes and
   * computation of each phase).
   */
  header: UpdateHeader | SecureUploadRecord;
  tensors: { name: string; shape: number[] }[];
  normBeforeClip: number;
  normAfterClip: number;
  clipBound: number;
  noiseSigma: number;
  attempts: number;
  httpStatus: number;
}

export type FederatedRoundStatus = 'uploaded' | 'skipped' | 'missed' | 'rejected';

export interface FederatedRoundResult {
  /** `skipped`: a gate said no; `missed`: the round could not be joined (network, round moved on); `rejected`: the server refused the update. */
  status: FederatedRoundStatus;
  reason?: string;
  roundId?: number;
  modelVersion?: string;
  loss?: number;
  upload?: UploadRecord;
}
