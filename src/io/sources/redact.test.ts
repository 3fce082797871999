/** Credential scrubbing and safe file names. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.js';
import { checkFileName, encodeFileName } from './names.js';
import { redactSecrets, redactUrl, splitUrlCredentials } from './redact.js';

describe('redaction', () => {
  it('removes user:password and sensitive query values, leaves other URLs untouched', () => {
    expect(redactUrl('https://bob:pa55@host.example/a?x=1&token=abc&X-Amz-Signature=zzz')).toBe(
      'https://***@host.example/a?x=1&token=***&X-Amz-Signature=***',
    );
    expect(redactUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(redactSecrets('Bearer hf_abc and hf_abc again', ['hf_abc'])).toBe('Bearer *** and *** again');
  });

  it('turns URL credentials into a Basic header and reports what to scrub', () => {
    const split = splitUrlCredentials('https://bob:p%40ss@host.example/models');
    expect(split.url).toBe('https://host.example/models');
    expect(split.authorization).toBe(`Basic ${btoa('bob:p@ss')}`);
    expect(split.secrets).toContain('p@ss');
  });
});

describe('file names', () => {
  it('accepts relative paths, rejects escapes, encodes segments', () => {
    expect(checkFileName('onnx/model.onnx')).toBe('onnx/model.onnx');
    for (const bad of ['', '/etc/passwd', '../x', 'a/../b', 'a//b', 'a\\b', './a']) {
      expect(() => checkFileName(bad)).toThrow(InvalidArgumentError);
    }
    expect(encodeFileName('dir/a b#1.json')).toBe('dir/a%20b%231.json');
  });
});
