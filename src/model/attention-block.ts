/**
 * A pre-LayerNorm Transformer block (multi-head self-attention + point-wise feed-forward), on
 * activations kept as `[batch * length, dims]` matrices.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ParameterSet } from './parameter-set.js';
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

/** Applies the block; returns the new activations and the attention weights `[batch, heads, length, length]`. */
export function applyBlock(p: BlockParams, input: BlockInput): { x: tf.Tensor2D; attention: tf.Tensor4D } {
  const { x, batch, length, heads, mask, dropout, training } = input;
  const dims = x.shape[1];
  const headDims = dims / heads;
  const split = (t: tf.Tensor2D) => tf.transpose(tf.reshape(t, [batch, length, heads, headDims]), [0, 2, 1, 3]) as tf.Tensor4D;

  const h = layerNorm(x, p.ln1Gamma, p.ln1Beta);
  const q = split(dense(h, p.wq, p.bq));
  const k = split(dense(h, p.wk, p.bk));
  const v = split(dense(h, p.wv, p.bv));
  const logits = tf.add(tf.mul(fastMatMul(q, tf.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(headDims)), mask);
  const attention = tf.softmax(logits) as tf.Tensor4D;
  const context = tf.reshape(tf.transpose(fastMatMul(attention, v), [0, 2, 1, 3]), [batch * length, dims]) as tf.Tensor2D;
  const attended = tf.add(x, maybeDropout(dense(context, p.wo, p.bo), dropout, training)) as tf.Tensor2D;

  const h2 = layerNorm(attended, p.ln2Gamma, p.ln2Beta);
  const ffn = dense(maybeDropout(tf.relu(dense(h2, p.w1, p.b1)), dropout, training), p.w2, p.b2);
  return { x: tf.add(attended, maybeDropout(ffn, dropout, training)) as tf.Tensor2D, attention };
}

/** A large negative that survives float32 and float16 (WebGPU/WebGL may compute in half precision). */
export const MASKED = -1e4;
