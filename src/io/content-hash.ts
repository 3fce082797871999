/**
 * Incremental SHA-256 and SHA-1 (FIPS 180-4), to check a download against the content hash its
 * origin states as its bytes stream by: Web Crypto only digests a whole buffer, and
 * @huggingface/hub only hashes whole Blobs. `createHash()` uses node:crypto in Node (native,
 * faster) and the implementations here elsewhere (browsers).
 *
 * The hub states a file's hash in its ETag: the SHA-256 of the content for LFS files (the
 * weights), the git blob id — SHA-1 of "blob <size>\0" followed by the content — for the files
 * kept in git itself (config.json, tokenizer_config.json, ...).
 */

export interface IncrementalHash {
  update(bytes: Uint8Array): void;
  /** Lower-case hex of the digest; the hash cannot be updated afterwards. */
  digestHex(): string;
}

export type HashAlgorithm = 'sha256' | 'sha1';

/** The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));
const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/**
 * The Merkle–Damgård frame both hashes share: 64-byte blocks, each folded into the state by
 * `compress`, and the padding 0x80, zeros, the length in bits as a 64-bit big-endian number.
 */
abstract class BlockHash implements IncrementalHash {
  /** A partial 64-byte block waiting for more bytes. */
  readonly #block = new Uint8Array(64);
  #filled = 0;
  #length = 0;
  #done = false;

  /** The state words, printed big-endian as the digest. */
  protected abstract readonly h: Int32Array;
  protected abstract compress(bytes: Uint8Array, offset: number): void;

  update(bytes: Uint8Array): void {
    if (this.#done) throw new Error('IncrementalHash: update() after digestHex()');
    this.#length += bytes.byteLength;
    let at = 0;
    if (this.#filled > 0) {
      at = Math.min(64 - this.#filled, bytes.byteLength);
      this.#block.set(bytes.subarray(0, at), this.#filled);
      this.#filled += at;
      if (this.#filled < 64) return;
      this.compress(this.#block, 0);
      this.#filled = 0;
    }
    for (; at + 64 <= bytes.byteLength; at += 64) this.compress(bytes, at);
    if (at < bytes.byteLength) {
      this.#block.set(bytes.subarray(at));
      this.#filled = bytes.byteLength - at;
    }
  }

  digestHex(): string {
    const bits = this.#length * 8;
    const pad = new Uint8Array((((this.#filled + 9 + 63) >> 6) << 6) - this.#filled);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    this.#done = true;
    return Array.from(this.h, (x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  }
}

/** Message words of a block, big-endian, into w[0..16). */
function readWords(w: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const o = offset + 4 * i;
    w[i] = (bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!;
  }
}

export class Sha256 extends BlockHash {
  protected readonly h = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  readonly #w = new Int32Array(64); // int32 (not uint32): values stay small integers for the JIT

  protected compress(bytes: Uint8Array, offset: number): void {
    const w = this.#w;
    readWords(w, bytes, offset);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!;
      const b = w[i - 2]!;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    // State words copied and added back one by one: destructuring or a rest-argument helper runs
    // ~2.5× slower in V8 (160 → 60 MiB/s).
    const h = this.h;
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, hh = h[7]!;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + b) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0; h[5] = (h[5]! + f) | 0; h[6] = (h[6]! + g) | 0; h[7] = (h[7]! + hh) | 0;
  }
}

/** SHA-1 (FIPS 180-4 §6.1): only for git blob ids, not as a security measure. */
export class Sha1 extends BlockHash {
  protected readonly h = Int32Array.from([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);
  readonly #w = new Int32Array(80);

  protected compress(bytes: Uint8Array, offset: number): void {
    const w = this.#w;
    readWords(w, bytes, offset);
    for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!, 1);
    const h = this.h;
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!;
    for (let i = 0; i < 80; i++) {
      const f = i < 20 ? (b & c) | (~b & d) : i < 40 ? b ^ c ^ d : i < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
      const k = i < 20 ? 0x5a827999 : i < 40 ? 0x6ed9eba1 : i < 60 ? 0x8f1bbcdc : 0xca62c1d6;
      const t = (rotl(a, 5) + f + e + k + w[i]!) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + b) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + d) | 0; h[4] = (h[4]! + e) | 0;
  }
}

/** An incremental hash: node:crypto's in Node, `Sha256` / `Sha1` elsewhere. */
export async function createHash(algorithm: HashAlgorithm): Promise<IncrementalHash> {
  if (typeof process !== 'undefined' && typeof process.versions?.node === 'string') {
    const { createHash: nodeHash } = await import('node:crypto');
    const hash = nodeHash(algorithm);
    return { update: (bytes) => void hash.update(bytes), digestHex: () => hash.digest('hex') };
  }
  return algorithm === 'sha256' ? new Sha256() : new Sha1();
}

/** What a remote states of a file's content: the SHA-256 of the bytes, or their git blob id. */
export interface ContentHash {
  kind: 'sha256' | 'git-blob';
  /** Lower-case hex. */
  hex: string;
}

/** How a content hash is named in messages. */
export const contentHashName = (kind: ContentHash['kind']): string => (kind === 'sha256' ? 'SHA-256' : 'git blob id (SHA-1)');

/**
 * The content hash a hub ETag states (quotes and a weak W/ prefix stripped): 64 hex digits are
 * an LFS file's SHA-256, 40 a git file's blob id; anything else states none.
 */
export function contentHashOfHubEtag(etag: string | null | undefined): ContentHash | undefined {
  const m = etag ? /^(?:W\/)?"?([0-9a-fA-F]{64}|[0-9a-fA-F]{40})"?$/.exec(etag.trim()) : null;
  if (!m) return undefined;
  const hex = m[1]!.toLowerCase();
  return { kind: hex.length === 64 ? 'sha256' : 'git-blob', hex };
}

/** A hash ready for the content of a file of `size` bytes: for a git blob id, the "blob <size>\0" header is already in. */
export async function startContentHash(kind: ContentHash['kind'], size: number): Promise<IncrementalHash> {
  if (kind === 'sha256') return createHash('sha256');
  const hash = await createHash('sha1');
  hash.update(new TextEncoder().encode(`blob ${size}\0`));
  return hash;
}
