/**
 * One row of `qwen35 mem --table` recomputed by hand: Qwen3.5-27B, bf16 weights, 1,024 tokens
 * (f16 KV, prefill chunk 512, the table's settings). Every figure below is written out from the
 * config values of the architecture doc (§7) and the buffer layout the runtime allocates (weights:
 * rows × cols × 2 B per matrix, norms and DeltaNet vectors f32; state and activations f32; kernel
 * scratch from each kernel's layout), independent of memory.ts and the plans. Integer bytes, so
 * the comparison is exact; the Markdown cell is the same total printed in GiB to 0.01.
 */
import { describe, expect, it } from 'vitest';
import { tableJson, tableMarkdown } from './mem-table.js';
import { DEFAULT_PREFILL_CHUNK } from '../runtime/session.js';

// §7, shared: head_dim 256, 16 linear key heads, key/value head dim 128, conv kernel 4, vocab 248,320,
// full_attention_interval 4, partial_rotary_factor 0.25. 27B: hidden 5120, 64 layers, intermediate
// 17,408, 24 heads, 4 KV heads, 48 linear value heads, untied embeddings.
const hidden = 5120;
const layers = 64;
const attnLayers = layers / 4; // 16: layers 3, 7, ..., 63
const gdnLayers = layers - attnLayers; // 48
const inter = 17408;
const heads = 24;
const kvHeads = 4;
const d = 256;
const keyHeads = 16;
const valueHeads = 48;
const dk = 128;
const dv = 128;
const vocab = 248320;
const context = 1024;
const chunk = DEFAULT_PREFILL_CHUNK; // the table's prefill chunk (512)

const bf16 = (rows: number, cols: number): number => rows * cols * 2;
const f32 = (n: number): number => n * 4;

// Weights
const embedding = bf16(vocab, hidden);
const lmHead = bf16(vocab, hidden); // untied
const convChannels = 2 * keyHeads * dk + valueHeads * dv; // q, k, v go through the conv: 4096 + 6144
const gdnLayer =
  bf16(convChannels + valueHeads * dv + valueHeads + valueHeads, hidden) + // in_proj [qkv; z; b; a]
  bf16(hidden, valueHeads * dv) + // out_proj
  f32(convChannels * 4 + valueHeads + valueHeads); // conv1d taps, A_log, dt_bias
const attnLayer = bf16(2 * heads * d + kvHeads * d + kvHeads * d, hidden) + bf16(hidden, heads * d); // q (+ gate), k, v; o
const mlpLayer = bf16(2 * inter, hidden) + bf16(hidden, inter); // [gate; up], down
const norms = f32(layers * 2 * hidden + hidden + gdnLayers * dv + attnLayers * 2 * d); // input/post, final, GDN norm, q/k norm
const weights = embedding + lmHead + gdnLayers * gdnLayer + attnLayers * attnLayer + layers * mlpLayer + norms;

// State: KV on the 16 attention layers only; DeltaNet conv + recurrent state on the other 48.
const kvCache = attnLayers * 2 * kvHeads * d * context * 2;
const convState = gdnLayers * f32((4 - 1) * convChannels);
const recurrentState = gdnLayers * f32(valueHeads * dk * dv);
const linearState = convState + recurrentState;

// Activations: one prefill chunk of every shared buffer (f32 per token) ...
const proj = Math.max(2 * (heads + kvHeads) * d, 2 * keyHeads * dk + 2 * valueHeads * dv + 2 * valueHeads); // attention 14,336 vs GDN 16,480
const widths = [1, hidden, hidden, proj, heads * d, heads * d, keyHeads * dk, keyHeads * dk, valueHeads * dv, valueHeads * dv, inter];
//              ids hidden normed proj mixerOut attnQ   gdnQ         gdnK         gdnV            gdnOut          mlpAct
const chunkBuffers = widths.reduce((a, w) => a + f32(w * chunk), 0);
// ... the last token's hidden row (the LM head applies the final norm itself) and logits, the token history (+ the sampled id) ...
const head = f32(hidden + vocab) + f32(context + 1) + 4;
// ... and kernel scratch. Split-K decode attention: min(64, ⌈1024 / 128⌉) = 8 splits × heads × (d + max + sum).
const attentionScratch = f32(8 * heads * (d + 2));
// Chunked DeltaNet (chunks of 64 tokens in the prefill chunk): U, W, γ per token, the per-chunk
// lower-triangular matrices (64 · 65 / 2 each) and the per-chunk states.
const gdnChunks = chunk / 64;
const gdnScratch = f32(chunk * valueHeads * dv + chunk * valueHeads * dk + chunk * valueHeads + gdnChunks * valueHeads * ((64 * 65) / 2) + gdnChunks * valueHeads * dk * dv);
// Sampler: 3 vocab-long arrays, 3 words per 1024-wide block (243 blocks), 32 state words, 5 × 256 histogram buckets,
// the top-k fast path's (key, id) list of 256.
const samplerScratch = f32(3 * vocab + 3 * Math.ceil(vocab / 1024) + 32 + 5 * 256 + 2 * 256);
const activations = chunkBuffers + head + attentionScratch + gdnScratch + samplerScratch;

const staging = 2 * 4; // two 4-byte read-back slots
// Uniform arena: (32 + 48 per layer) slots of 256 B; RoPE inverse frequencies for the 64 rotary dims (256 × 0.25), f32.
const other = (32 + 48 * layers) * 256 + f32(64 / 2);
const total = weights + kvCache + linearState + activations + staging + other;

interface TableJson {
  rows: Array<{
    preset: string;
    format: string;
    formatDetails: unknown;
    weightBytes: number;
    linearStateBytes: number;
    linearState: { conv: number; recurrent: number };
    kvBytesPerToken: number;
    cells: Array<{ context: number; totalBytes: number; byCategory: Record<string, number>; totalIfKvOnEveryLayerBytes: number }>;
  }>;
}

describe('qwen35 mem --table, Qwen3.5-27B bf16 at 1,024 tokens, by hand', () => {
  const row = (tableJson() as TableJson).rows.find((r) => r.preset === '27B' && r.format === 'bf16')!;
  const cell = row.cells.find((c) => c.context === context)!;

  it('every category and the total of the JSON cell', () => {
    expect(weights).toBe(53_797_287_936); // 50.10 GiB: 26.9 B bf16 weights and the f32 vectors
    expect(cell.byCategory).toEqual({ weights, 'kv-cache': kvCache, 'linear-state': linearState, activations, staging, other });
    expect(cell.totalBytes).toBe(total);
    expect(cell.totalIfKvOnEveryLayerBytes).toBe(total - kvCache + layers * 2 * kvHeads * d * context * 2);
    expect(row.weightBytes).toBe(weights);
    expect(row.linearStateBytes).toBe(linearState);
    expect(row.linearState).toEqual({ conv: convState, recurrent: recurrentState });
    expect(row.kvBytesPerToken).toBe(attnLayers * 2 * kvHeads * d * 2);
    expect(row.formatDetails).toEqual({ format: 'bf16', groupSize: null, scaleDtype: null, bitsPerWeight: 16 });
  });

  it('the Markdown row prints the same total in GiB', () => {
    const line = tableMarkdown().split('\n').find((l) => l.startsWith('| Qwen3.5-27B |') && l.includes('| bf16 |'))!;
    const cells = line.split('|').map((c) => c.trim());
    expect(cells[4]).toBe((weights / 2 ** 30).toFixed(2)); // weights GiB
    expect(cells[7]).toBe((total / 2 ** 30).toFixed(2)); // total GiB @ 1,024
  });
});
