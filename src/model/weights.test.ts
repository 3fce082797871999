/**
 * Tensor-name map: every checkpoint tensor is used exactly once, Qwen3-Next de-interleaving and
 * expert stacking reproduce the canonical tensors, FP8 block scales are applied, and mismatches
 * are reported. All comparisons are exact (tolerance 0): assembly only moves f32 values, and FP8
 * dequantization is one f32 multiply, reproduced here with Math.fround.
 */
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../errors.js';
import { f32ToF8e4m3, f8e4m3ToF32 } from '../io/bf16.js';
import { MemoryCheckpointSource, MemorySink } from '../io/memory-checkpoint.js';
import { numel, type Dtype } from '../io/safetensors.js';
import { writeSafetensors, type TensorData } from '../io/safetensors-writer.js';
import { openTensorDirectory, type TensorDirectory } from '../io/tensor-directory.js';
import { parseConfig, type Qwen35Config } from './config.js';
import { Random } from './random.js';
import { checkpointTensors, tensorChunks, writeSyntheticCheckpoint, type SyntheticTensor } from './synthetic.js';
import { TINY_CONFIGS, type TinyKind } from './tiny.js';
import { planWeights } from './weight-plan.js';
import { directoryReader, loadAllWeights, weightEntries, type TensorRecipe } from './weights.js';

const joinChunks = (chunks: Iterable<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat([...chunks]));

const f32Bytes = (v: Float32Array): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

async function generated(kind: TinyKind): Promise<{ config: Qwen35Config; dir: TensorDirectory }> {
  const sink = new MemorySink();
  await writeSyntheticCheckpoint(TINY_CONFIGS[kind], { seed: 1, maxShardBytes: 256 * 1024 }, (f, c) => sink.write(f, c));
  const source = new MemoryCheckpointSource(sink.files());
  const config = parseConfig(JSON.parse(await source.readText('config.json')), JSON.parse(await source.readText('generation_config.json')));
  return { config, dir: await openTensorDirectory(source) };
}

/** A single-file checkpoint from tensors (for hand-made layouts and corruptions). */
async function directoryOf(tensors: TensorData[]): Promise<TensorDirectory> {
  return openTensorDirectory(new MemoryCheckpointSource(new Map([['model.safetensors', writeSafetensors(tensors)]])));
}

const randomData = (t: SyntheticTensor): TensorData => ({ ...t, data: joinChunks(tensorChunks(t, 2)) });

/** The synthetic tensors of a config, each replaced by what `edit` returns (none, one or several). */
function synthetic(config: Qwen35Config, edit: (t: SyntheticTensor) => TensorData | TensorData[] = randomData): TensorData[] {
  return checkpointTensors(config).flatMap(edit);
}

async function expectPlanError(config: Qwen35Config, tensors: TensorData[], pattern: RegExp): Promise<void> {
  const dir = await directoryOf(tensors);
  let err: unknown;
  try {
    planWeights(config, dir);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a ModelFormatError').toBeInstanceOf(ModelFormatError);
  expect((err as Error).message).toMatch(pattern);
}

describe('planWeights', () => {
  for (const kind of ['dense', 'moe', 'next'] as const) {
    it(`uses every element of every tensor exactly once (${kind})`, async () => {
      const { config, dir } = await generated(kind);
      const plan = planWeights(config, dir);
      const uses = new Map([...dir.tensors].map(([name, e]) => [name, new Uint8Array(numel(e.info.shape))]));
      for (const [path, recipe] of weightEntries<TensorRecipe>(plan)) {
        const rowLength = recipe.shape[recipe.shape.length - 1]!;
        expect(recipe.rows.reduce((a, c) => a + c.rows, 0) * rowLength, path).toBe(numel(recipe.shape));
        for (const copy of recipe.rows) {
          const used = uses.get(recipe.sources[copy.source]!.name)!;
          for (let i = copy.from * rowLength; i < (copy.from + copy.rows) * rowLength; i++) used[i]!++;
        }
      }
      for (const [name, used] of uses) expect(used.every((n) => n === 1), name).toBe(true);
      expect(plan.lmHead === undefined).toBe(config.tieWordEmbeddings);
      expect(plan.layers.map((l) => (l.attn ? 'A' : 'G') + (l.moe ? 'e' : 'd')).join(' ')).toBe(
        config.layerTypes.map((t, i) => (t === 'full_attention' ? 'A' : 'G') + (config.mlpTypes[i] === 'moe' ? 'e' : 'd')).join(' '),
      );
    });
  }

  it('de-interleaves Qwen3-Next in_proj_qkvz / in_proj_ba and stacks per-expert tensors (§4.5, §5)', async () => {
    const c = TINY_CONFIGS.next;
    const { linearNumKeyHeads: Hk, linearNumValueHeads: Hv, linearKeyHeadDim: dk, linearValueHeadDim: dv, hiddenSize: h } = c;
    const r = Hv / Hk;
    const rnd = new Random(7);
    const canonical = { qkv: rnd.normals((2 * Hk * dk + Hv * dv) * h), z: rnd.normals(Hv * dv * h), b: rnd.normals(Hv * h), a: rnd.normals(Hv * h) };
    const { numExperts: E, moeIntermediateSize: I } = c.moe!;
    const gateUp = rnd.normals(E * 2 * I * h);
    const down = rnd.normals(E * h * I);
    const rowsOf = (m: Float32Array, from: number, count: number) => m.subarray(from * h, (from + count) * h);
    // Grouped by key head k: [q_k | k_k | v of heads k·r..k·r+r−1 | z of the same heads]; ba: [b of those heads | a].
    const qkvz = new Float32Array([...Array(Hk).keys()].flatMap((k) => [
      ...rowsOf(canonical.qkv, k * dk, dk),
      ...rowsOf(canonical.qkv, Hk * dk + k * dk, dk),
      ...rowsOf(canonical.qkv, 2 * Hk * dk + k * r * dv, r * dv),
      ...rowsOf(canonical.z, k * r * dv, r * dv),
    ]));
    const ba = new Float32Array([...Array(Hk).keys()].flatMap((k) => [...rowsOf(canonical.b, k * r, r), ...rowsOf(canonical.a, k * r, r)]));
    const expert = (name: string): Float32Array | undefined => {
      const m = /experts\.(\d+)\.(gate|up|down)_proj/.exec(name);
      if (!m) return undefined;
      const e = Number(m[1]);
      if (m[2] === 'down') return down.subarray(e * h * I, (e + 1) * h * I);
      return gateUp.subarray((e * 2 + (m[2] === 'up' ? 1 : 0)) * I * h, (e * 2 + (m[2] === 'up' ? 2 : 1)) * I * h);
    };
    const tensors = synthetic(c, (t) => {
      const special = t.name.endsWith('in_proj_qkvz.weight') ? qkvz : t.name.endsWith('in_proj_ba.weight') ? ba : expert(t.name);
      return special ? { ...t, dtype: 'F32', data: f32Bytes(special) } : randomData(t);
    });
    const dir = await directoryOf(tensors);
    const weights = await loadAllWeights(planWeights(c, dir), directoryReader(dir));
    const gdn = weights.layers[0]!.gdn!;
    expect(gdn.inProjQkv).toEqual(canonical.qkv);
    expect(gdn.inProjZ).toEqual(canonical.z);
    expect(gdn.inProjB).toEqual(canonical.b);
    expect(gdn.inProjA).toEqual(canonical.a);
    expect(weights.layers[0]!.moe!.gateUp).toEqual(gateUp);
    expect(weights.layers[0]!.moe!.down).toEqual(down);
    expect(weights.layers[1]!.mlp).toBeDefined();
  });

  it('dequantizes FP8 e4m3 weights with 128×128 weight_scale_inv blocks (partial edge blocks)', async () => {
    const c: Qwen35Config = { ...TINY_CONFIGS.dense, hiddenSize: 144, intermediateSize: 200 };
    const rnd = new Random(9);
    const expected = new Map<string, Float32Array>();
    const tensors = synthetic(c, (t) => {
      if (!/mlp\.(gate|down)_proj\.weight$/.test(t.name)) return randomData(t);
      const [rows, cols] = t.shape as [number, number];
      const blocks = [Math.ceil(rows / 128), Math.ceil(cols / 128)];
      const scale = Float32Array.from({ length: blocks[0]! * blocks[1]! }, () => 0.001 + rnd.next() * 0.01);
      const codes = Uint8Array.from({ length: rows * cols }, () => f32ToF8e4m3(rnd.normal() * 100));
      expected.set(t.name, Float32Array.from(codes, (q, i) => Math.fround(f8e4m3ToF32(q) * scale[Math.floor(i / cols / 128) * blocks[1]! + Math.floor((i % cols) / 128)]!)));
      return [
        { name: t.name, dtype: 'F8_E4M3', shape: t.shape, data: codes },
        { name: `${t.name}_scale_inv`, dtype: 'F32', shape: blocks, data: f32Bytes(scale) },
      ];
    });
    const dir = await directoryOf(tensors);
    const weights = await loadAllWeights(planWeights(c, dir), directoryReader(dir));
    expect(weights.layers[2]!.mlp!.gateProj).toEqual(expected.get('model.language_model.layers.2.mlp.gate_proj.weight'));
    expect(weights.layers[5]!.mlp!.downProj).toEqual(expected.get('model.language_model.layers.5.mlp.down_proj.weight'));
  });

  it('accepts the text-only prefix and reports vision, MTP and a tied lm_head as skipped', async () => {
    const c = TINY_CONFIGS.dense;
    const extra = (name: string, shape: number[]): TensorData => ({ name, dtype: 'BF16', shape, data: new Uint8Array(numel(shape) * 2) });
    const tensors = [
      ...synthetic(c).map((t) => ({ ...t, name: t.name.replace('model.language_model.', 'model.') })),
      extra('model.visual.blocks.0.attn.qkv.weight', [6, 2]),
      extra('mtp.fc.weight', [c.hiddenSize, 2 * c.hiddenSize]),
      extra('mtp.layers.0.self_attn.q_proj.weight', [4, 2]),
      extra('lm_head.weight', [c.vocabSize, c.hiddenSize]),
    ];
    const plan = planWeights(c, await directoryOf(tensors));
    expect(plan.prefix).toBe('model.');
    expect(plan.skipped).toEqual({
      vision: ['model.visual.blocks.0.attn.qkv.weight'],
      mtp: ['mtp.fc.weight', 'mtp.layers.0.self_attn.q_proj.weight'],
      tiedLmHead: 'lm_head.weight',
    });
  });

  it('reports missing, unknown, wrong-shape and wrong-dtype tensors with expected vs found', async () => {
    const c = TINY_CONFIGS.moe;
    const base = synthetic(c);
    const p = 'model.language_model.layers.';
    await expectPlanError(c, base.filter((t) => t.name !== `${p}3.self_attn.k_norm.weight` && t.name !== 'lm_head.weight'), /missing tensors: lm_head\.weight, model\.language_model\.layers\.3\.self_attn\.k_norm\.weight/);
    await expectPlanError(c, [...base, { name: `${p}0.mlp.bias`, dtype: 'F32', shape: [2], data: new Uint8Array(8) }], /unknown tensors \(not part of this architecture\): model\.language_model\.layers\.0\.mlp\.bias/);
    const reshaped = base.map((t) => (t.name === `${p}1.linear_attn.conv1d.weight` ? { ...t, shape: [t.shape[0]!, t.shape[2]!, 1] } : t));
    await expectPlanError(c, reshaped, /layers\.1\.linear_attn\.conv1d\.weight: shape \[128,4,1\], expected \[128,1,4\]/);
    const retyped = base.map((t) => (t.name === `${p}2.linear_attn.dt_bias` ? { ...t, dtype: 'I16' as Dtype } : t));
    await expectPlanError(c, retyped, /layers\.2\.linear_attn\.dt_bias: dtype I16, expected one of BF16, F16, F32/);
    const fp8 = base.map((t) => (t.name === `${p}0.mlp.gate.weight` ? { ...t, dtype: 'F8_E4M3' as Dtype, data: t.data.subarray(0, t.data.length / 2) } : t));
    await expectPlanError(c, fp8, /mlp\.gate\.weight: dtype F8_E4M3, expected one of BF16, F16, F32 \(F8_E4M3 needs a 2-D weight with "model\.language_model\.layers\.0\.mlp\.gate\.weight_scale_inv"\)/);
    await expectPlanError(c, base.filter((t) => !t.name.endsWith('embed_tokens.weight')), /no embedding found/);
  });
});
