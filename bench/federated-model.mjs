// A small next-item model in plain JavaScript for the federated simulation: the mean of the
// input embeddings of the last `window` items, scored against output embeddings plus a bias,
// trained with sampled softmax and SGD. It implements the part of the model contract that the
// federated client uses (getWeights / setWeights / train), with the same kind of weights that
// dominate the real recommender: item tables, one row per item.

export class BagModel {
  constructor({ numItems, dims = 32, window = 20, negatives = 50, learningRate = 0.05, seed = 1, l2 = 0 }) {
    this.numItems = numItems;
    this.dims = dims;
    this.window = window;
    this.negatives = negatives;
    this.learningRate = learningRate;
    this.l2 = l2;
    let s = seed >>> 0;
    this.random = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const rows = numItems + 1;
    this.itemIn = new Float32Array(rows * dims);
    this.itemOut = new Float32Array(rows * dims);
    this.bias = new Float32Array(rows);
    const scale = 0.1;
    for (let i = 0; i < this.itemIn.length; i++) this.itemIn[i] = (this.random() - 0.5) * 2 * scale;
    for (let i = 0; i < this.itemOut.length; i++) this.itemOut[i] = (this.random() - 0.5) * 2 * scale;
  }

  getWeights() {
    const rows = this.numItems + 1;
    return [
      { name: 'item_in', shape: [rows, this.dims], values: this.itemIn.slice() },
      { name: 'item_out', shape: [rows, this.dims], values: this.itemOut.slice() },
      { name: 'item_bias', shape: [rows], values: this.bias.slice() },
    ];
  }

  setWeights(weights) {
    this.itemIn.set(weights[0].values);
    this.itemOut.set(weights[1].values);
    this.bias.set(weights[2].values);
  }

  /** The state of a history (item indices). */
  state(items, out = new Float32Array(this.dims)) {
    out.fill(0);
    const from = Math.max(0, items.length - this.window);
    const n = items.length - from;
    const d = this.dims;
    for (let t = from; t < items.length; t++) {
      const row = items[t] * d;
      for (let k = 0; k < d; k++) out[k] += this.itemIn[row + k];
    }
    if (n > 0) for (let k = 0; k < d; k++) out[k] /= n;
    return out;
  }

  score(items, candidates) {
    const h = this.state(items);
    const d = this.dims;
    return candidates.map((j) => {
      let s = this.bias[j];
      for (let k = 0; k < d; k++) s += h[k] * this.itemOut[j * d + k];
      return s;
    });
  }

  /** Sequences of HistoryStep (itemId = item index as a string) or of item indices. */
  async train(sequences, options) {
    const seqs = sequences.map((seq) => seq.map((step) => (typeof step === 'number' ? step : Number(step.itemId))));
    let loss = 0;
    let count = 0;
    for (let e = 0; e < options.epochs; e++) {
      for (const seq of seqs)
        for (let t = 1; t < seq.length; t++) {
          loss += this.step(seq, t);
          count++;
        }
    }
    return { loss: count > 0 ? loss / count : 0 };
  }

  step(seq, t) {
    const d = this.dims;
    const h = this.state(seq.slice(0, t));
    const candidates = [seq[t]];
    for (let k = 0; k < this.negatives; k++) candidates.push(1 + Math.floor(this.random() * this.numItems));
    const logits = candidates.map((j) => {
      let s = this.bias[j];
      for (let k = 0; k < d; k++) s += h[k] * this.itemOut[j * d + k];
      return s;
    });
    const max = Math.max(...logits);
    const exps = logits.map((z) => Math.exp(z - max));
    const total = exps.reduce((a, b) => a + b, 0);
    const gradH = new Float32Array(d);
    const lr = this.learningRate;
    candidates.forEach((j, c) => {
      const g = exps[c] / total - (c === 0 ? 1 : 0);
      const row = j * d;
      for (let k = 0; k < d; k++) {
        gradH[k] += g * this.itemOut[row + k];
        this.itemOut[row + k] -= lr * (g * h[k] + this.l2 * this.itemOut[row + k]);
      }
      this.bias[j] -= lr * g;
    });
    const from = Math.max(0, t - this.window);
    const n = t - from;
    for (let p = from; p < t; p++) {
      const row = seq[p] * d;
      for (let k = 0; k < d; k++) this.itemIn[row + k] -= (lr * gradH[k]) / n;
    }
    return -Math.log(exps[0] / total);
  }
}
