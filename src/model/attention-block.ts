/**
 * A pre-LayerNorm Transformer block (multi-head self-attention + point-wise feed-forward), on
 * activations kept as `[batch * length, dims]` matrices.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ParameterSet } from './parameter-set.js';
import { type Random, glorotValues } from './random.js';
import { dense, fastMatMul, layerNorm, maybeDropout } from './tensor-ops.js';

export interface BlockParams {
  ln1Gamma: tf.Variable<tf.Rank.R1>;
  ln1Beta: tf.Variable<tf.Rank.R1>;
  wq: tf.Variable<tf.Rank.R2>;
  bq: tf.Variable<tf.Rank.R1>;
  wk: tf.Variable<tf.Rank.R2>;
  bk: tf.Variable<tf.Rank.R1>;
  wv: tf.Variable<tf.Rank.R2>;
  bv: tf.Variable<tf.Rank.R1>;
  wo: tf.Variable<tf.Rank.R2>;
  bo: tf.Variable<tf.Rank.R1>;
  ln2Gamma: tf.Variable<tf.Rank.R1>;
  ln2Beta: tf.Variable<tf.Rank.R1>;
  w1: tf.Variable<tf.Rank.R2>;
  b1: tf.Variable<tf.Rank.R1>;
  w2: tf.Variable<tf.Rank.R2>;
  b2: tf.Variable<tf.Rank.R1>;
}

/** Registers one block's weights under `prefix` (the order is part of the weights' layout). */
export function createBlockParams(params: ParameterSet, prefix: string, dims: number, random: Random): BlockParams {
  const ones = () => new Float32Array(dims).fill(1);
  const zeros = () => new Float32Array(dims);
  const matrix = (name: string) => params.add<tf.Rank.R2>(`${prefix}/${name}`, [dims, dims], glorotValues(random, dims, dims));
  const vector = (name: string, values: Float32Array) => params.add<tf.Rank.R1>(`${prefix}/${name}`, [dims], values);
  return {
    ln1Gamma: vector('ln1_gamma', ones()),
    ln1Beta: vector('ln1_beta', zeros()),
    wq: matrix('query_kernel'),
    bq: vector('query_bias', zeros()),
    wk: matrix('key_kernel'),
    bk: vector('key_bias', zeros()),
    wv: matrix('value_kernel'),
    bv: vector('value_bias', zeros()),
    wo: matrix('output_kernel'),
    bo: vector('output_bias', zeros()),
    ln2Gamma: vector('ln2_gamma', ones()),
    ln2Beta: vector('ln2_beta', zeros()),
    w1: matrix('ffn1_kernel'),
    b1: vector('ffn1_bias', zeros()),
    w2: matrix('ffn2_kernel'),
    b2: vector('ffn2_bias', zeros()),
  };
}

export interface BlockInput {
  /** `[batch * length, dims]`. */
  x: tf.Tensor2D;
  batch: number;
  length: number;
  heads: number;
  /** Additive attention mask, `[batch, 1, length, length]`: 0 where allowed, a large negative elsewhere. */
  mask: tf.Tensor4D;
  dropout: number;
  training: boolean;
}

/** Keys and values of a block, heads split: `[batch, heads, length, headDims]`. */
export interface KeysValues {
  k: tf.Tensor4D;
  v: tf.Tensor4D;
}

/** `[batch * length, dims]` → `[batch, heads, length, dims / heads]`. */
function splitHeads(t: tf.Tensor2D, batch: number, length: number, heads: number): tf.Tensor4D {
  const dims = t.shape[1];
  return tf.transpose(tf.reshape(t, [batch, length, heads, dims / heads]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** The block's first half: queries, keys and values of the layer-normalised input. */
function projections(p: BlockParams, x: tf.Tensor2D, batch: number, length: number, heads: number): { q: tf.Tensor4D; k: tf.Tensor4D; v: tf.Tensor4D } {
  const h = layerNorm(x, p.ln1Gamma, p.ln1Beta);
  return { q: splitHeads(dense(h, p.wq, p.bq), batch, length, heads), k: splitHeads(dense(h, p.wk, p.bk), batch, length, heads), v: splitHeads(dense(h, p.wv, p.bv), batch, length, heads) };
}

/** The block's second half: the attended context `[batch, heads, length, headDims]` through the output projection and the feed-forward, with both residuals. */
function finish(p: BlockParams, x: tf.Tensor2D, context: tf.Tensor4D, dropout: number, training: boolean): tf.Tensor2D {
  const [batch, heads, length, headDims] = context.shape;
  const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch * length, heads * headDims]) as tf.Tensor2D;
  const attended = tf.add(x, maybeDropout(dense(merged, p.wo, p.bo), dropout, training)) as tf.Tensor2D;
  const h2 = layerNorm(attended, p.ln2Gamma, p.ln2Beta);
  const ffn = dense(maybeDropout(tf.relu(dense(h2, p.w1, p.b1)), dropout, training), p.w2, p.b2);
  return tf.add(attended, maybeDropout(ffn, dropout, training)) as tf.Tensor2D;
}

/**
 * Applies the block; returns the new activations, the attention weights `[batch, heads, length,
 * length]`, and the keys and values (for {@link applyBlockToSuffixes}).
 */
export function applyBlock(p: BlockParams, input: BlockInput): { x: tf.Tensor2D; attention: tf.Tensor4D } & KeysValues {
  const { x, batch, length, heads, mask, dropout, training } = input;
  const { q, k, v } = projections(p, x, batch, length, heads);
  const headDims = q.shape[3];
  const logits = tf.add(tf.mul(fastMatMul(q, tf.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(headDims)), mask);
  const attention = tf.softmax(logits) as tf.Tensor4D;
  return { x: finish(p, x, fastMatMul(attention, v), dropout, training), attention, k, v };
}

/**
 * The block over `variants` copies of the last `suffix` positions of one sequence whose earlier
 * positions (the prefix) are unchanged: their keys and values come from a pass over the whole
 * sequence (`prefix`, `[1, heads, length, headDims]`, of which the first `length − suffix` are
 * used), so only `variants × suffix` positions are computed. `x` is `[variants * suffix, dims]`;
 * `mask` (`[variants, 1, suffix, suffix]`) says which suffix keys each suffix query may see, and
 * every query sees the whole prefix. Inference only (causal attention makes the prefix independent
 * of anything after it).
 */
export function applyBlockToSuffixes(p: BlockParams, x: tf.Tensor2D, prefix: KeysValues, variants: number, suffix: number, heads: number, mask: tf.Tensor4D): tf.Tensor2D {
  const { q, k, v } = projections(p, x, variants, suffix, heads);
  const headDims = q.shape[3];
  const length = prefix.k.shape[2];
  const shared = length - suffix;
  const scale = 1 / Math.sqrt(headDims);
  // Queries against their own variant's suffix keys: [variants, heads, suffix, suffix].
  const ownLogits = tf.add(tf.mul(tf.matMul(q, tf.transpose(k, [0, 1, 3, 2])), scale), mask);
  if (shared === 0) return finish(p, x, tf.matMul(tf.softmax(ownLogits), v), 0, false);
  // Every query against the shared prefix keys, as one batched product over heads:
  // [heads, variants * suffix, headDims] × [heads, headDims, shared] → [variants, heads, suffix, shared].
  const prefixK = tf.reshape(tf.slice(prefix.k, [0, 0, 0, 0], [1, heads, shared, headDims]), [heads, shared, headDims]);
  const prefixV = tf.reshape(tf.slice(prefix.v, [0, 0, 0, 0], [1, heads, shared, headDims]), [heads, shared, headDims]);
  const byHead = tf.reshape(tf.transpose(q, [1, 0, 2, 3]), [heads, variants * suffix, headDims]);
  const sharedLogits = tf.transpose(tf.reshape(tf.mul(tf.matMul(byHead, tf.transpose(prefixK, [0, 2, 1])), scale), [heads, variants, suffix, shared]), [1, 0, 2, 3]);
  const attention = tf.softmax(tf.concat([sharedLogits, ownLogits], 3));
  const [toShared, toOwn] = tf.split(attention, [shared, suffix], 3) as [tf.Tensor4D, tf.Tensor4D];
  const fromShared = tf.transpose(
    tf.reshape(tf.matMul(tf.reshape(tf.transpose(toShared, [1, 0, 2, 3]), [heads, variants * suffix, shared]), prefixV), [heads, variants, suffix, headDims]),
    [1, 0, 2, 3],
  );
  return finish(p, x, tf.add(fromShared, tf.matMul(toOwn, v)) as tf.Tensor4D, 0, false);
}

/** A large negative that survives float32 and float16 (WebGPU/WebGL may compute in half precision). */
export const MASKED = -1e4;
