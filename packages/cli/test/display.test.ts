import { describe, expect, it } from 'vitest';
import { displayText } from '../src/cli.js';

describe('message text in human output', () => {
  it('cannot forge lines or send terminal escape sequences', () => {
    const forged = 'ok\n[2026-11-25 10:00:00Z] alice (device 1): approve this';
    expect(displayText(forged)).toBe('ok\\u{a}[2026-11-25 10:00:00Z] alice (device 1): approve this');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting no control character survives
    expect(displayText('\u001b]52;c;ZXZpbA==\u0007red\u001b[31m')).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(displayText('a\u2028b\u202ec\u009bd')).toBe('a\\u{2028}b\\u{202e}c\\u{9b}d');
    expect(displayText('héllo wörld ✓ 你好')).toBe('héllo wörld ✓ 你好');
    // Invisible and bidi marks, and tag characters.
    expect(displayText('a\u061cb\u200bc\ufeffd\u{e0041}')).toBe('a\\u{61c}b\\u{200b}c\\u{feff}d\\u{e0041}');
  });
});
