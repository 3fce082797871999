/**
 * Token sampling on the GPU (shaders/sample_*.wgsl), exact over the full vocabulary with the
 * rules and random numbers of the CPU reference src/model/sampling.ts. No logits are read back:
 * the id goes to token[0] and is appended to history[historyLength].
 *
 * Dispatches, in order (the ones an option turns off get zero workgroups):
 *   mark → prep → mass → top-k search → top-p search → draw search → gather → select → locate → finish
 * where each search is PASSES × (HIST over the vocabulary, PICK in one workgroup): threshold
 * selection on the ranking by radix passes over the order keys, not a sort. With 1 ≤ top-k ≤
 * LIST_MAX, gather (the fewer than k tokens above the top-k level) and select (one workgroup ranks
 * them and runs the top-p and draw searches over them) replace the top-p and draw searches. Greedy runs only
 * mark, prep and finish, and without a repetition penalty only prep and finish (the marks change
 * nothing then, and greedy reads no search state). All dispatches share one uniform slot.
 */
import { InvalidArgumentError } from '../errors.js';
import { bindBuffers, gridFor, type BufferArg, type Dispatch, type KernelContext } from '../gpu/kernel.js';
import { randomBits, samplerConstants, TOP_P_ONE, type SamplerOptions } from '../model/sampling.js';
import { requireBytes } from './buffer-checks.js';

export type { SamplerOptions } from '../model/sampling.js';

/** Must match sample_common.wgsl. */
const WG = 256;
const BLOCK = 1024;
const BUCKETS = 256;
const PASSES = 4;
const STATE_WORDS = 32;
/** sample_common.wgsl LIST_MAX: the largest top-k of the fast path. */
const LIST_MAX = 256;

const LAYOUT = [
  ['vocab', 'u32'], ['blocks', 'u32'], ['hist_len', 'u32'], ['max_history', 'u32'], ['greedy', 'u32'], ['top_k', 'u32'],
  ['top_p24', 'u32'], ['rand_bits', 'u32'], ['inv_temp', 'f32'], ['penalty', 'f32'], ['inv_penalty', 'f32'],
] as const;

export interface SamplerShape {
  vocab: number;
  /** Capacity of the history buffer (context length + 1). */
  maxHistory: number;
}

export interface SamplerBuffers {
  /** f32 [vocab]. */
  logits: BufferArg;
  /** u32 [maxHistory]: the ids so far; the sampled id is appended. */
  history: BufferArg;
  /** u32 [1]: the sampled id. */
  token: BufferArg;
}

export interface BoundSampler {
  dispatches: Dispatch[];
  setOptions(o: SamplerOptions): void;
  /** The draw's RNG step and how many history entries precede this token. */
  setStep(step: number, historyLength: number): void;
  /** Frees the sampler's scratch buffers. */
  destroy(): void;
}

/** Bytes of scratch a bound sampler allocates (for the memory predictor): marks, keys, masses, block results, state, histogram, the fast path's list. */
export function samplerScratchBytes(vocab: number): number {
  const blocks = Math.ceil(vocab / BLOCK);
  return 4 * (3 * vocab + 3 * blocks + STATE_WORDS + 5 * BUCKETS + 2 * LIST_MAX);
}

function checkOptions(o: SamplerOptions): void {
  const bad = (what: string) => new InvalidArgumentError(`sampler: ${what}`);
  if (!(Number.isFinite(o.temperature) && o.temperature >= 0)) throw bad(`temperature must be a finite number ≥ 0, got ${o.temperature}`);
  if (!(Number.isSafeInteger(o.topK) && o.topK >= 0)) throw bad(`topK must be an integer ≥ 0 (0 = off), got ${o.topK}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw bad(`topP must be in (0, 1], got ${o.topP}`);
  if (!(Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty > 0)) throw bad(`repetitionPenalty must be a finite number > 0, got ${o.repetitionPenalty}`);
  if (!(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff)) throw bad(`seed must be an integer in [0, 2^32), got ${o.seed}`);
}

type Pipelines = Record<'mark' | 'prep' | 'mass' | 'hist' | 'pick' | 'gather' | 'select' | 'locate' | 'finish', GPUComputePipeline>;
type Scratch = Record<'marks' | 'keys' | 'masses' | 'blockBest' | 'blockCount' | 'state' | 'hist' | 'list', GPUBuffer>;

/** The sampler's own buffers; on failure frees what it had allocated. */
function allocateScratch(ctx: KernelContext, label: string, vocab: number): Scratch {
  const blocks = Math.ceil(vocab / BLOCK);
  const words = { marks: vocab, keys: vocab, masses: vocab, blockBest: 2 * blocks, blockCount: blocks, state: STATE_WORDS, hist: 5 * BUCKETS, list: 2 * LIST_MAX };
  const made: Partial<Scratch> = {};
  try {
    for (const [name, n] of Object.entries(words) as [keyof Scratch, number][]) {
      made[name] = ctx.allocator.create({ label: `${label}.${name}`, category: 'activations', size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    }
  } catch (e) {
    Object.values(made).forEach((buffer) => ctx.allocator.destroy(buffer));
    throw e;
  }
  return made as Scratch;
}

class SamplerBinding implements BoundSampler {
  readonly dispatches: Dispatch[];
  private readonly params;
  private readonly stages;
  private readonly blocks: number;
  private readonly pick: GPUComputePipeline;
  private seed = 0;
  private step = 0;
  private historyLength = 0;
  /** Whether the mark stage has work: penalty marks to set, or search state to reset. */
  private marking = true;

  constructor(
    private readonly ctx: KernelContext,
    pipes: Pipelines,
    private readonly shape: SamplerShape,
    b: SamplerBuffers,
    private readonly label: string,
    private readonly scratch: Scratch,
  ) {
    this.blocks = Math.ceil(shape.vocab / BLOCK);
    this.pick = pipes.pick;
    this.params = ctx.uniforms.alloc(LAYOUT, { vocab: shape.vocab, blocks: this.blocks, max_history: shape.maxHistory });
    const s = scratch;
    const d = (name: string, pipeline: GPUComputePipeline, resources: BufferArg[]): Dispatch => ({
      label: `${label} ${name}`,
      pipeline,
      bindGroup: bindBuffers(ctx, pipeline, `${label} ${name}`, [this.params.binding, ...resources]),
      workgroups: [0, 1, 1],
    });
    const search = (name: string): Dispatch[] =>
      Array.from({ length: PASSES }, () => [d(`${name} hist`, pipes.hist, [s.keys, s.masses, s.state, s.hist]), d(`${name} pick`, pipes.pick, [s.state, s.hist])]).flat();
    this.stages = {
      mark: d('mark', pipes.mark, [b.history, s.marks, s.state, s.hist]),
      prep: d('prep', pipes.prep, [b.logits, s.marks, s.keys, s.blockBest]),
      mass: d('mass', pipes.mass, [s.keys, s.blockBest, s.masses, s.state]),
      topK: search('top-k'),
      topP: search('top-p'),
      draw: search('draw'),
      gather: d('gather', pipes.gather, [s.keys, s.state, s.list]),
      select: d('select', pipes.select, [s.state, s.masses, s.list]),
      locate: d('locate', pipes.locate, [s.keys, s.state, s.blockCount]),
      finish: d('finish', pipes.finish, [s.keys, s.state, s.blockBest, s.blockCount, b.history, b.token, s.marks]),
    };
    const st = this.stages;
    this.dispatches = [st.mark, st.prep, st.mass, ...st.topK, ...st.topP, ...st.draw, st.gather, st.select, st.locate, st.finish];
    this.setOptions({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 });
    this.setStep(0, 0);
  }

  /** Grid stages get one workgroup per vocabulary block, PICKs one; stages that are off get none. */
  private enable(list: Dispatch[], on: boolean): void {
    const grid = gridFor(this.blocks, this.ctx.gpu.limits.maxComputeWorkgroupsPerDimension);
    for (const x of list) x.workgroups = !on ? [0, 1, 1] : x.pipeline === this.pick ? [1, 1, 1] : grid;
  }

  setOptions(o: SamplerOptions): void {
    checkOptions(o);
    const c = samplerConstants(o, this.shape.vocab);
    this.seed = o.seed;
    this.params.set({
      greedy: c.greedy ? 1 : 0, top_k: c.topK, top_p24: c.topP24, inv_temp: c.invTemperature,
      penalty: c.penalty, inv_penalty: c.invPenalty, rand_bits: randomBits(this.seed, this.step),
    });
    const st = this.stages;
    this.enable([st.prep], true);
    const listed = !c.greedy && c.topK > 0 && c.topK <= LIST_MAX;  // the top-k fast path
    this.enable([st.mass, st.locate], !c.greedy);
    this.enable(st.topK, !c.greedy && c.topK > 0);
    this.enable(st.topP, !c.greedy && !listed && c.topP24 < TOP_P_ONE);
    this.enable(st.draw, !c.greedy && !listed);
    this.enable([st.gather], listed);
    st.select.workgroups = listed ? [1, 1, 1] : [0, 1, 1];
    st.finish.workgroups = [1, 1, 1];
    this.marking = !c.greedy || c.penalty !== 1;
    this.sizeMark();
  }

  setStep(step: number, historyLength: number): void {
    const { maxHistory } = this.shape;
    if (!(Number.isInteger(step) && step >= 0 && Number.isInteger(historyLength) && historyLength >= 0 && historyLength <= maxHistory)) {
      throw new InvalidArgumentError(`${this.label}: step ${step} / history length ${historyLength} invalid (the history holds ${maxHistory})`);
    }
    this.step = step;
    this.historyLength = historyLength;
    this.params.set({ hist_len: historyLength, rand_bits: randomBits(this.seed, step) });
    this.sizeMark();
  }

  /** At least one workgroup when marking: workgroup 0 of the mark stage also resets the state. */
  private sizeMark(): void {
    const grid = gridFor(Math.max(1, Math.ceil(this.historyLength / WG)), this.ctx.gpu.limits.maxComputeWorkgroupsPerDimension);
    this.stages.mark.workgroups = this.marking ? grid : [0, 1, 1];
  }

  destroy(): void {
    Object.values(this.scratch).forEach((buffer) => this.ctx.allocator.destroy(buffer));
  }
}

export async function createSampler(ctx: KernelContext, shape: SamplerShape) {
  const { vocab, maxHistory } = shape;
  if (!(Number.isInteger(vocab) && vocab > 0 && Number.isInteger(maxHistory) && maxHistory > 0)) {
    throw new InvalidArgumentError(`sampler: invalid shape vocab=${vocab} maxHistory=${maxHistory}`);
  }
  const stage = (shader: string, name: string) => ctx.pipelines.get({ shader, defines: { [`STAGE_${name}`]: true } });
  const [mark, prep, mass, hist, pick, gather, select, locate, finish] = await Promise.all([
    stage('sample_prep', 'MARK'), stage('sample_prep', 'PREP'), stage('sample_prep', 'MASS'),
    stage('sample_search', 'HIST'), stage('sample_search', 'PICK'), stage('sample_search', 'GATHER'), stage('sample_search', 'SELECT'),
    stage('sample_finish', 'LOCATE'), stage('sample_finish', 'FINISH'),
  ]);
  const pipes: Pipelines = { mark, prep, mass, hist, pick, gather, select, locate, finish };
  return {
    shape,
    bind(b: SamplerBuffers, label = 'sampler'): BoundSampler {
      requireBytes(`${label}: logits f32 [${vocab}]`, b.logits, vocab * 4);
      requireBytes(`${label}: history u32 [${maxHistory}]`, b.history, maxHistory * 4);
      requireBytes(`${label}: token u32 [1]`, b.token, 4);
      const scratch = allocateScratch(ctx, label, vocab);
      try {
        return new SamplerBinding(ctx, pipes, shape, b, label, scratch);
      } catch (e) {
        Object.values(scratch).forEach((buffer) => ctx.allocator.destroy(buffer));
        throw e;
      }
    },
  };
}
