/** Self-consistency of the operator reference: the forms that must agree do agree. */
import { describe, expect, it } from 'vitest';
import { expectClose } from '../../kernels-test/harness.js';
import { causalConv1dSilu, gdnChunked, gdnGates, gdnRecurrent, l2Normalize, routerTopK, type GdnDims } from './ops.js';
import { Random } from './random.js';

function gdnInputs(rnd: Random, tokens: number, dims: GdnDims) {
  const { keyHeads, valueHeads, keyDim, valueDim } = dims;
  const q = l2Normalize(rnd.normals(tokens * keyHeads * keyDim), keyDim, 1 / Math.sqrt(keyDim));
  const k = l2Normalize(rnd.normals(tokens * keyHeads * keyDim), keyDim);
  const v = rnd.normals(tokens * valueHeads * valueDim);
  const aLog = rnd.normals(valueHeads, 0.5);
  const dtBias = rnd.normals(valueHeads, 0.5);
  const { beta, g } = gdnGates(rnd.normals(tokens * valueHeads), rnd.normals(tokens * valueHeads), aLog, dtBias);
  return { q, k, v, beta, g };
}

describe('Gated DeltaNet reference', () => {
  const dims: GdnDims = { keyHeads: 2, valueHeads: 4, keyDim: 16, valueDim: 12 };

  it('chunked form equals the recurrence across chunk boundaries, with a carried-in state (≤1e-5 rel.)', () => {
    const rnd = new Random(3);
    const tokens = 150; // two full chunks of 64 and a partial one of 22
    const inp = gdnInputs(rnd, tokens, dims);
    const s0 = rnd.normals(dims.valueHeads * dims.keyDim * dims.valueDim, 0.3);
    const sRec = s0.slice();
    const sChunk = s0.slice();
    const oRec = gdnRecurrent(inp, sRec, dims);
    const oChunk = gdnChunked(inp, sChunk, dims, 64);
    const scale = Math.max(...oRec.map(Math.abs));
    expectClose(oChunk, oRec, 1e-5 * scale, 1e-5, 'outputs');
    expectClose(sChunk, sRec, 1e-5, 1e-5, 'final state');
  });

  it('splitting a sequence in two calls carries state exactly', () => {
    const rnd = new Random(4);
    const inp = gdnInputs(rnd, 20, dims);
    const whole = gdnRecurrent(inp, new Float32Array(dims.valueHeads * dims.keyDim * dims.valueDim), dims);
    const state = new Float32Array(dims.valueHeads * dims.keyDim * dims.valueDim);
    const part = (t0: number, t1: number) => ({
      q: inp.q.subarray(t0 * 32, t1 * 32),
      k: inp.k.subarray(t0 * 32, t1 * 32),
      v: inp.v.subarray(t0 * 48, t1 * 48),
      beta: inp.beta.subarray(t0 * 4, t1 * 4),
      g: inp.g.subarray(t0 * 4, t1 * 4),
    });
    const first = gdnChunked(part(0, 7), state, dims, 4);
    const second = gdnRecurrent(part(7, 20), state, dims);
    expectClose([...first, ...second], whole, 1e-5, 1e-5, 'outputs');
  });
});

describe('causal conv1d', () => {
  it('two calls with the carried state equal one call', () => {
    const rnd = new Random(5);
    const channels = 6;
    const kernel = 4;
    const x = rnd.normals(9 * channels);
    const w = rnd.normals(channels * kernel);
    const whole = causalConv1dSilu(x, new Float32Array((kernel - 1) * channels), w, channels, kernel);
    const state = new Float32Array((kernel - 1) * channels);
    const a = causalConv1dSilu(x.subarray(0, 2 * channels), state, w, channels, kernel);
    const b = causalConv1dSilu(x.subarray(2 * channels), state, w, channels, kernel);
    expectClose([...a, ...b], whole, 1e-6, 1e-6, 'conv');
    expectClose(state, x.subarray(6 * channels), 0, 0, 'state keeps the last K−1 columns');
  });
});

describe('router', () => {
  it('takes the top-k of the softmax, renormalised, ties to the lower index', () => {
    const logits = new Float32Array([1, 3, 3, 0, 2]);
    const { ids, weights } = routerTopK(logits, 5, 3, true);
    expect([...ids]).toEqual([1, 2, 4]);
    const e = [Math.exp(3), Math.exp(3), Math.exp(2)];
    const sum = e[0]! + e[1]! + e[2]!;
    expectClose(weights, e.map((v) => v / sum), 1e-7, 1e-6, 'weights');
  });
});
