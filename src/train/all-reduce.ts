/**
 * The shared memory of data-parallel training: the weights, Adam's moments, one gradient slot per
 * thread, and a barrier.
 *
 * Each step every thread writes its shard's gradient into its slot and waits for the others. Then
 * each thread takes one stripe of the parameters, averages the slots there (weighted by how many
 * target positions each shard had, so the average is exactly the full batch's mean gradient) and
 * applies Adam to that stripe of the shared weights; after a second barrier every thread loads
 * the new weights into its replica. The optimizer's work is split between the threads instead of
 * repeated on each, and the replicas cannot drift apart: there is one copy of the weights.
 *
 * Adam is tfjs's (`tf.train.adam`): the same moments, bias correction and epsilon (1e-7), so a
 * run on one thread and a run on several follow the same algorithm.
 */

const ARRIVED = 0;
const GENERATION = 1;
const STOP_REQUESTED = 2;
const STOP_DECIDED = 3;
const CONTROL_SLOTS = 4;

const BETA1 = 0.9;
const BETA2 = 0.999;
/** tfjs's epsilon for float32 backends. */
const EPSILON = 1e-7;

export interface SharedBuffers {
  control: SharedArrayBuffer;
  gradients: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  firstMoment: SharedArrayBuffer;
  secondMoment: SharedArrayBuffer;
  /** Per thread: [loss, target positions] of its last shard. */
  stats: SharedArrayBuffer;
}

export function createSharedBuffers(threads: number, parameters: number): SharedBuffers {
  return {
    control: new SharedArrayBuffer(CONTROL_SLOTS * 4),
    gradients: new SharedArrayBuffer(threads * parameters * 4),
    weights: new SharedArrayBuffer(parameters * 4),
    firstMoment: new SharedArrayBuffer(parameters * 4),
    secondMoment: new SharedArrayBuffer(parameters * 4),
    stats: new SharedArrayBuffer(threads * 2 * 8),
  };
}

/** The shared weights (all parameters, in weight order). */
export function sharedWeights(buffers: SharedBuffers): Float32Array {
  return new Float32Array(buffers.weights);
}

/** Asks the threads to stop at their next step (from the coordinating thread). */
export function requestStop(buffers: SharedBuffers): void {
  Atomics.store(new Int32Array(buffers.control), STOP_REQUESTED, 1);
}

export function clearStop(buffers: SharedBuffers): void {
  const control = new Int32Array(buffers.control);
  Atomics.store(control, STOP_REQUESTED, 0);
  Atomics.store(control, STOP_DECIDED, 0);
}

/** Zeroes Adam's moments (new weights were loaded; the old moments belong to the old ones). */
export function resetOptimizer(buffers: SharedBuffers): void {
  new Float32Array(buffers.firstMoment).fill(0);
  new Float32Array(buffers.secondMoment).fill(0);
}

/** One thread's view of the shared state. */
export class SharedAdamStep {
  private readonly control: Int32Array;
  private readonly slots: Float32Array[];
  private readonly weights: Float32Array;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly stats: Float64Array;
  private readonly stripeStart: number;
  private readonly stripeEnd: number;
  private step = 0;

  constructor(
    buffers: SharedBuffers,
    private readonly thread: number,
    private readonly threads: number,
    parameters: number,
    private readonly learningRate: number,
  ) {
    this.control = new Int32Array(buffers.control);
    this.slots = Array.from({ length: threads }, (_, t) => new Float32Array(buffers.gradients, t * parameters * 4, parameters));
    this.weights = new Float32Array(buffers.weights);
    this.m = new Float32Array(buffers.firstMoment);
    this.v = new Float32Array(buffers.secondMoment);
    this.stats = new Float64Array(buffers.stats);
    this.stripeStart = Math.floor((thread * parameters) / threads);
    this.stripeEnd = Math.floor(((thread + 1) * parameters) / threads);
  }

  /** This thread's gradient slot, for the model to write into. */
  get slot(): Float32Array {
    return this.slots[this.thread] as Float32Array;
  }

  /** The shared weights, for the replica to load after each step. */
  get sharedWeights(): Float32Array {
    return this.weights;
  }

  /** Restarts Adam's bias correction (after `resetOptimizer`). */
  restart(): void {
    this.step = 0;
  }

  /** Averages the slots over this thread's stripe and takes an Adam step there. */
  private adamStripe(total: number): void {
    const { weights, m, v, slots, stripeStart, stripeEnd } = this;
    const stepSize = this.learningRate / (1 - Math.pow(BETA1, this.step));
    const secondCorrection = 1 / (1 - Math.pow(BETA2, this.step));
    const share = (t: number): number => (this.stats[t * 2 + 1] as number) / total;
    if (slots.length > 2) {
      // More than two threads: sum the slots into the first one's stripe first.
      const first = slots[0] as Float32Array;
      const shareFirst = share(0);
      for (let i = stripeStart; i < stripeEnd; i++) first[i] = shareFirst * (first[i] as number);
      for (let t = 1; t < slots.length; t++) {
        const slot = slots[t] as Float32Array;
        const s = share(t);
        for (let i = stripeStart; i < stripeEnd; i++) first[i] = (first[i] as number) + s * (slot[i] as number);
      }
    }
    // One or two slots (after the fold above, the sum is in the first with share 1).
    const a = slots[0] as Float32Array;
    const b = slots.length === 2 ? (slots[1] as Float32Array) : a;
    const shareA = slots.length > 2 ? 1 : share(0);
    const shareB = slots.length === 2 ? share(1) : 0;
    for (let i = stripeStart; i < stripeEnd; i++) {
      const g = shareA * (a[i] as number) + shareB * (b[i] as number);
      const mi = BETA1 * (m[i] as number) + (1 - BETA1) * g;
      const vi = BETA2 * (v[i] as number) + (1 - BETA2) * g * g;
      m[i] = mi;
      v[i] = vi;
      weights[i] = (weights[i] as number) - (stepSize * mi) / (Math.sqrt(vi * secondCorrection) + EPSILON);
    }
  }

  barrier(): void {
    const generation = Atomics.load(this.control, GENERATION);
    if (Atomics.add(this.control, ARRIVED, 1) === this.threads - 1) {
      Atomics.store(this.control, ARRIVED, 0);
      Atomics.add(this.control, GENERATION, 1);
      Atomics.notify(this.control, GENERATION);
      return;
    }
    while (Atomics.load(this.control, GENERATION) === generation) Atomics.wait(this.control, GENERATION, generation);
  }

  /**
   * Publishes this thread's shard (its gradient is already in `slot`), takes the step on this
   * thread's stripe, and waits until every stripe is done. Returns the batch's mean loss and
   * target count, or null when the threads were asked to stop (every thread gets null at the same
   * step, and the weights are left as they were).
   */
  apply(loss: number, count: number): { loss: number; count: number } | null {
    this.stats[this.thread * 2] = loss;
    this.stats[this.thread * 2 + 1] = count;
    // Thread 0 decides for everyone, before the barrier, so that all threads see one decision.
    if (this.thread === 0) Atomics.store(this.control, STOP_DECIDED, Atomics.load(this.control, STOP_REQUESTED));
    this.barrier();
    if (Atomics.load(this.control, STOP_DECIDED) === 1) return null;
    let total = 0;
    let lossSum = 0;
    for (let t = 0; t < this.threads; t++) {
      total += this.stats[t * 2 + 1] as number;
      lossSum += (this.stats[t * 2] as number) * (this.stats[t * 2 + 1] as number);
    }
    if (total > 0) {
      this.step++;
      this.adamStripe(total);
    }
    this.barrier();
    return { loss: total > 0 ? lossSum / total : Number.NaN, count: total };
  }
}
