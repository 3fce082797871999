/**
 * The incremental SHA-256 and SHA-1 against node:crypto: random inputs of every length up to 300
 * bytes (the padding cases at 55, 56, 63, 64 bytes and their multiples included), fed whole and
 * in random pieces, a 3 MB input in random pieces, the FIPS 180-2 test vectors; git blob ids
 * against `git hash-object`'s; and the hub ETag parser. Digests must be equal exactly.
 */
import { createHash as nodeHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Random } from '../model/random.js';
import { contentHashOfHubEtag, createHash, Sha1, Sha256, startContentHash, type HashAlgorithm, type IncrementalHash } from './content-hash.js';

const text = (s: string) => new TextEncoder().encode(s);

/** `bytes` fed to `hash` in pieces cut at random places. */
function inPieces(hash: IncrementalHash, bytes: Uint8Array, rnd: Random, maxPiece: number): string {
  for (let at = 0; at < bytes.byteLength; ) {
    const n = Math.min(bytes.byteLength - at, rnd.int(maxPiece + 1));
    hash.update(bytes.subarray(at, at + n));
    at += n;
  }
  return hash.digestHex();
}

const FIPS_INPUTS = ['', 'abc', 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 'a'.repeat(1_000_000)];

describe.each([
  {
    algorithm: 'sha256' as HashAlgorithm,
    make: () => new Sha256(),
    fips: [
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    ],
  },
  {
    algorithm: 'sha1' as HashAlgorithm,
    make: () => new Sha1(),
    fips: [
      'da39a3ee5e6b4b0d3255bfef95601890afd80709',
      'a9993e364706816aba3e25717850c26c9cd0d89d',
      '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
      '34aa973cd4c4daa4f61eeb2bdbad27316534016f',
    ],
  },
])('$algorithm', ({ algorithm, make, fips }) => {
  const reference = (bytes: Uint8Array): string => nodeHash(algorithm).update(bytes).digest('hex');
  const digest = (bytes: Uint8Array): string => {
    const h = make();
    h.update(bytes);
    return h.digestHex();
  };

  it('FIPS 180-2 vectors: "", "abc", the 448-bit message, a million "a"', () => {
    expect(FIPS_INPUTS.map((s) => digest(text(s)))).toEqual(fips);
  });

  it('random inputs of 0..300 bytes, whole and in random pieces, equal node:crypto', () => {
    const rnd = new Random(256);
    for (let n = 0; n <= 300; n++) {
      const bytes = new Uint8Array(randomBytes(n));
      const want = reference(bytes);
      expect(digest(bytes), `${n} bytes`).toBe(want);
      expect(inPieces(make(), bytes, rnd, 70), `${n} bytes in pieces`).toBe(want);
    }
  });

  it('3 MB in random pieces (up to 100 KB each) equals node:crypto; createHash too', async () => {
    const bytes = new Uint8Array(randomBytes(3_000_007));
    expect(inPieces(make(), bytes, new Random(3), 100_000)).toBe(reference(bytes));
    const node = await createHash(algorithm);
    node.update(bytes.subarray(0, 1_000_000));
    node.update(bytes.subarray(1_000_000));
    expect(node.digestHex()).toBe(reference(bytes));
  });

  it('refuses updates after the digest', () => {
    const h = make();
    h.digestHex();
    expect(() => h.update(new Uint8Array(1))).toThrow(/after digestHex/);
  });
});

describe('startContentHash', () => {
  const feed = async (kind: 'sha256' | 'git-blob', bytes: Uint8Array) => {
    const h = await startContentHash(kind, bytes.byteLength);
    h.update(bytes);
    return h.digestHex();
  };

  it("a git blob id is `git hash-object`'s: SHA-1 of \"blob <size>\\0\" and the content", async () => {
    // printf 'hello' | git hash-object --stdin; printf '' | git hash-object --stdin
    expect(await feed('git-blob', text('hello'))).toBe('b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0');
    expect(await feed('git-blob', text(''))).toBe('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
    const bytes = new Uint8Array(randomBytes(70_001));
    expect(await feed('git-blob', bytes)).toBe(nodeHash('sha1').update(`blob 70001\0`).update(bytes).digest('hex'));
  });

  it('a SHA-256 content hash is that of the bytes alone', async () => {
    expect(await feed('sha256', text('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('contentHashOfHubEtag', () => {
  const sha256 = 'A'.repeat(8) + 'b'.repeat(56);
  const sha1 = 'C'.repeat(8) + 'd'.repeat(32);
  it('64 hex digits are a SHA-256, 40 a git blob id (quoted, bare or weak; lower-cased); nothing else states a hash', () => {
    for (const etag of [`"${sha256}"`, sha256, `W/"${sha256}"`]) expect(contentHashOfHubEtag(etag), etag).toEqual({ kind: 'sha256', hex: sha256.toLowerCase() });
    for (const etag of [`"${sha1}"`, sha1, `W/"${sha1}"`]) expect(contentHashOfHubEtag(etag), etag).toEqual({ kind: 'git-blob', hex: sha1.toLowerCase() });
    for (const other of [undefined, null, '', '"abc"', `"${'a'.repeat(32)}"`, `"${'a'.repeat(41)}"`, `"${sha256}0"`, '"1a2b-3c4d"', `"${'g'.repeat(40)}"`]) {
      expect(contentHashOfHubEtag(other), String(other)).toBeUndefined();
    }
  });
});
