/**
 * The incremental SHA-256 against node:crypto: random inputs of every length up to 300 bytes
 * (the padding cases at 55, 56, 63, 64 bytes and their multiples included), fed whole and in
 * random pieces, a 3 MB input in random pieces, the FIPS 180-2 test vectors; and the ETag parser.
 * Digests must be equal exactly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Random } from '../model/random.js';
import { createSha256, Sha256, sha256OfEtag } from './sha256.js';

const reference = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** `bytes` fed to a new Sha256 in pieces cut at random places. */
function inPieces(bytes: Uint8Array, rnd: Random, maxPiece: number): string {
  const hash = new Sha256();
  for (let at = 0; at < bytes.byteLength; ) {
    const n = Math.min(bytes.byteLength - at, rnd.int(maxPiece + 1));
    hash.update(bytes.subarray(at, at + n));
    at += n;
  }
  return hash.digestHex();
}

describe('Sha256', () => {
  it('FIPS 180-2 vectors: "", "abc", the 448-bit message, a million "a"', () => {
    const text = (s: string) => new TextEncoder().encode(s);
    const digest = (b: Uint8Array) => {
      const h = new Sha256();
      h.update(b);
      return h.digestHex();
    };
    expect(digest(text(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(digest(text('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(digest(text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    expect(digest(text('a'.repeat(1_000_000)))).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('random inputs of 0..300 bytes, whole and in random pieces, equal node:crypto', () => {
    const rnd = new Random(256);
    for (let n = 0; n <= 300; n++) {
      const bytes = new Uint8Array(randomBytes(n));
      const want = reference(bytes);
      const whole = new Sha256();
      whole.update(bytes);
      expect(whole.digestHex(), `${n} bytes`).toBe(want);
      expect(inPieces(bytes, rnd, 70), `${n} bytes in pieces`).toBe(want);
    }
  });

  it('3 MB in random pieces (up to 100 KB each) equals node:crypto; createSha256 too', async () => {
    const bytes = new Uint8Array(randomBytes(3_000_007));
    expect(inPieces(bytes, new Random(3), 100_000)).toBe(reference(bytes));
    const node = await createSha256();
    node.update(bytes.subarray(0, 1_000_000));
    node.update(bytes.subarray(1_000_000));
    expect(node.digestHex()).toBe(reference(bytes));
  });

  it('refuses updates after the digest', () => {
    const h = new Sha256();
    h.digestHex();
    expect(() => h.update(new Uint8Array(1))).toThrow(/after digestHex/);
  });
});

describe('sha256OfEtag', () => {
  const hex = 'A'.repeat(8) + 'b'.repeat(56);
  it('takes a quoted or bare 64-hex ETag (lower-cased), nothing else', () => {
    expect(sha256OfEtag(`"${hex}"`)).toBe(hex.toLowerCase());
    expect(sha256OfEtag(hex)).toBe(hex.toLowerCase());
    for (const other of [undefined, null, '', '"abc"', `"${'a'.repeat(40)}"`, `W/"${hex}"`, `"${hex}0"`, '"1a2b-3c4d"']) {
      expect(sha256OfEtag(other), String(other)).toBeUndefined();
    }
  });
});
