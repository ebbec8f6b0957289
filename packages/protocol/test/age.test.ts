/**
 * age v1: round trips (node and web primitives), streaming with arbitrary splits, tampering,
 * re-wrapping headers, Bech32 (BIP-173) vectors, armor, and decoders fed garbage.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as age from '../src/age/index.js';
import { concat } from '../src/bytes.js';
import { BlindrelayError } from '../src/errors.js';
import { createNodePrimitives } from '../src/primitives/node.js';
import { createWebPrimitives } from '../src/primitives/web.js';

const p = createNodePrimitives();
const web = createWebPrimitives();
const KiB = 1024;
const CHUNK = age.CHUNK_BYTES;
const ENC = age.ENCRYPTED_CHUNK_BYTES;
const enc = new TextEncoder();

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toSatisfy((e: unknown) => e instanceof age.AgeError && e.code === code);
}

async function setup(size = 3 * CHUNK + 100) {
  const alice = await age.X25519Identity.generate(p);
  const bob = await age.X25519Identity.generate(p);
  const plaintext = p.randomBytes(size);
  const file = await age.encryptFile(p, plaintext, [alice.recipient(), bob.recipient()]);
  const header = age.parseHeader(file);
  return { alice, bob, plaintext, file, headerLength: header.length, header };
}

describe('age round trips', () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 200 * KiB]) {
    it(`${size} bytes, node and web primitives both ways`, async () => {
      const id = await age.X25519Identity.generate(p);
      const plaintext = p.randomBytes(size);
      const fromNode = await age.encryptFile(p, plaintext, [id.recipient()]);
      const fromWeb = await age.encryptFile(web, plaintext, [id.recipient()]);
      expect(await age.decryptFile(web, fromNode, [id])).toEqual(plaintext);
      expect(await age.decryptFile(p, fromWeb, [id])).toEqual(plaintext);
      // Payload size: nonce + one tag per chunk (at least one chunk, even when empty).
      const chunks = Math.max(1, Math.ceil(size / CHUNK));
      expect(fromNode.length - age.parseHeader(fromNode).length).toBe(16 + size + 16 * chunks);
    });
  }

  it('scrypt recipients round-trip (node and web) and must be alone', async () => {
    const plaintext = enc.encode('passphrase-protected');
    const file = await age.encryptFile(p, plaintext, [new age.ScryptRecipient('correct horse', 10)]);
    expect(await age.decryptFile(web, file, [new age.ScryptIdentity('correct horse')])).toEqual(plaintext);
    await rejects(age.decryptFile(p, file, [new age.ScryptIdentity('wrong')]), 'ERR_AGE_NO_MATCH');
    await rejects(age.decryptFile(p, file, [new age.ScryptIdentity('correct horse', 9)]), 'ERR_AGE_HEADER');
    const id = await age.X25519Identity.generate(p);
    await expect(age.encryptFile(p, plaintext, [new age.ScryptRecipient('x', 10), id.recipient()])).rejects.toThrow(/only recipient/);
  });

  it('armored files round-trip and decrypt via auto-detection', async () => {
    const id = await age.X25519Identity.generate(p);
    const plaintext = p.randomBytes(3000);
    const text = await age.encryptFileArmored(p, plaintext, [id.recipient()]);
    expect(text.startsWith(`${age.ARMOR_BEGIN}\n`)).toBe(true);
    for (const line of text.trimEnd().split('\n').slice(1, -2)) expect(line.length).toBe(64);
    expect(await age.decryptFile(p, enc.encode(text), [id])).toEqual(plaintext);
    expect(await age.decryptFile(p, enc.encode(`\r\n  ${text.replace(/\n/g, '\r\n')}\t\n`), [id])).toEqual(plaintext);
    expect(age.armor(age.dearmor(text))).toBe(text);
  });

  it('streaming with arbitrary splits matches one-shot encryption and decryption', async () => {
    const fileKey = age.generateFileKey(p);
    const nonce = p.randomBytes(16);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7),
        fc.array(fc.integer({ min: 0, max: 3 * CHUNK }), { maxLength: 6 }),
        async (size, cuts) => {
          const plaintext = new Uint8Array(size).map((_, i) => i * 7);
          const whole = await age.encryptPayload(p, fileKey, plaintext, nonce);
          const points = [...new Set(cuts.map((c) => Math.min(c, size)))].sort((a, b) => a - b);
          const e = await age.createPayloadEncryptor(p, fileKey, nonce);
          const parts: Uint8Array[] = [];
          let prev = 0;
          for (const c of points) {
            parts.push(await e.push(plaintext.subarray(prev, c)));
            prev = c;
          }
          parts.push(await e.push(plaintext.subarray(prev), true));
          expect(concat(...parts)).toEqual(whole);
          const d = age.createPayloadDecryptor(p, fileKey);
          const out: Uint8Array[] = [];
          const cpoints = [...new Set(cuts.map((c) => Math.min(c, whole.length)))].sort((a, b) => a - b);
          prev = 0;
          for (const c of cpoints) {
            out.push(await d.push(whole.subarray(prev, c)));
            prev = c;
          }
          out.push(await d.push(whole.subarray(prev), true));
          expect(concat(...out)).toEqual(plaintext);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('payload throughput, 64 MiB, node primitives', async () => {
    const fileKey = age.generateFileKey(p);
    const data = p.randomBytes(64 * 1024 * KiB);
    const t0 = performance.now();
    const payload = await age.encryptPayload(p, fileKey, data);
    const t1 = performance.now();
    const back = await age.decryptPayload(p, fileKey, payload);
    const t2 = performance.now();
    expect(back.length).toBe(data.length);
    expect(back[12345]).toBe(data[12345]);
    const mibs = (ms: number) => (64 / (ms / 1000)).toFixed(0);
    console.log(`age payload 64 MiB (node): encrypt ${mibs(t1 - t0)} MiB/s, decrypt ${mibs(t2 - t1)} MiB/s`);
    expect(t1 - t0).toBeLessThan(30_000);
  }, 60_000);
});

describe('age tampering', () => {
  it('a modified version line is a header error', async () => {
    const { alice, file } = await setup();
    const t = file.slice();
    t[4] = (t[4] as number) ^ 0x01;
    await rejects(age.decryptFile(p, t, [alice]), 'ERR_AGE_HEADER');
  });

  it('a modified MAC is a MAC error, a malformed MAC line a header error', async () => {
    const { alice, file, headerLength } = await setup();
    const t = file.slice();
    const macStart = headerLength - 44; // "--- " + 43 chars + LF
    t[macStart] = t[macStart] === 0x41 ? 0x42 : 0x41;
    await rejects(age.decryptFile(p, t, [alice]), 'ERR_AGE_MAC');
    const u = file.slice();
    u[headerLength - 2] = 0x21; // '!' is not base64
    await rejects(age.decryptFile(p, u, [alice]), 'ERR_AGE_HEADER');
  });

  it('a modified stanza body or share is no match; an extra stanza breaks the MAC', async () => {
    const { alice, bob, file, header, headerLength } = await setup();
    const text = new TextDecoder('latin1').decode(file.subarray(0, headerLength));
    const lines = text.split('\n');
    // lines: version, "-> X25519 share" (alice), body, "-> X25519 share" (bob), body, MAC, ''
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const rebuilt = (ls: string[]) => concat(enc.encode(ls.join('\n')), file.subarray(headerLength));
    const badBody = [...lines];
    badBody[2] = flip(badBody[2] as string, 5);
    await rejects(age.decryptFile(p, rebuilt(badBody), [alice]), 'ERR_AGE_NO_MATCH');
    const badShare = [...lines];
    badShare[1] = flip(badShare[1] as string, 12);
    await rejects(age.decryptFile(p, rebuilt(badShare), [alice]), 'ERR_AGE_NO_MATCH');
    // Bob's stanza is intact, but the header bytes changed: the MAC catches it.
    await rejects(age.decryptFile(p, rebuilt(badShare), [bob]), 'ERR_AGE_MAC');
    const extra = [...lines.slice(0, 5), '-> grease x', '', ...lines.slice(5)];
    await rejects(age.decryptFile(p, rebuilt(extra), [alice]), 'ERR_AGE_MAC');
    expect(header.stanzas.length).toBe(2);
  });

  it('payload: flipped byte, swapped chunks, nonce change, truncation, appended data', async () => {
    const { alice, file, headerLength } = await setup();
    const body = headerLength + 16;
    const flipped = file.slice();
    flipped[body + ENC + 3] = (flipped[body + ENC + 3] as number) ^ 0x80;
    await rejects(age.decryptFile(p, flipped, [alice]), 'ERR_AGE_PAYLOAD');
    const swapped = concat(file.subarray(0, body), file.subarray(body + ENC, body + 2 * ENC), file.subarray(body, body + ENC), file.subarray(body + 2 * ENC));
    await rejects(age.decryptFile(p, swapped, [alice]), 'ERR_AGE_PAYLOAD');
    const nonce = file.slice();
    nonce[headerLength] = (nonce[headerLength] as number) ^ 1;
    await rejects(age.decryptFile(p, nonce, [alice]), 'ERR_AGE_PAYLOAD');
    for (const cut of [1, 16, 17, file.length - body - ENC * 3 /* at a chunk boundary */]) {
      await rejects(age.decryptFile(p, file.subarray(0, file.length - cut), [alice]), 'ERR_AGE_PAYLOAD');
    }
    await rejects(age.decryptFile(p, file.subarray(0, headerLength + 10), [alice]), 'ERR_AGE_HEADER');
    await rejects(age.decryptFile(p, concat(file, Uint8Array.of(0)), [alice]), 'ERR_AGE_PAYLOAD');
    await rejects(age.decryptFile(p, concat(file, file.subarray(body, body + ENC)), [alice]), 'ERR_AGE_PAYLOAD');
  });

  it('an empty final chunk after data is rejected; an empty payload is fine', async () => {
    const fileKey = age.generateFileKey(p);
    const nonce = p.randomBytes(16);
    const key = await age.payloadKey(p, fileKey, nonce);
    const n = (c: number, last: boolean) => Uint8Array.from([...new Array(10).fill(0), c, last ? 1 : 0]);
    const c0 = await p.chacha20Poly1305Seal(key, n(0, false), new Uint8Array(CHUNK));
    const emptyLast = await p.chacha20Poly1305Seal(key, n(1, true), new Uint8Array(0));
    await rejects(age.decryptPayload(p, fileKey, concat(nonce, c0, emptyLast)), 'ERR_AGE_PAYLOAD');
    const empty = await p.chacha20Poly1305Seal(key, n(0, true), new Uint8Array(0));
    expect((await age.decryptPayload(p, fileKey, concat(nonce, empty))).length).toBe(0);
    await rejects(age.decryptPayload(p, fileKey, nonce), 'ERR_AGE_PAYLOAD');
  });

  it('a failed decryptor stays failed and reports what it released', async () => {
    const { alice, file, headerLength } = await setup(2 * CHUNK + 5);
    const fileKey = await age.unwrapFileKey(p, file.subarray(0, headerLength), [alice]);
    const d = age.createPayloadDecryptor(p, fileKey);
    const err = await d.push(concat(file.subarray(headerLength), Uint8Array.of(1, 2, 3)), true).catch((e) => e);
    expect(err).toBeInstanceOf(age.AgePayloadError);
    await rejects(d.push(new Uint8Array(1)), 'ERR_AGE_PAYLOAD');
  });
});

describe('age header re-wrapping', () => {
  it('rewrapHeader: same payload, new recipient decrypts, removed one does not', async () => {
    const { alice, bob, file, headerLength } = await setup();
    const payload = file.slice(headerLength);
    const carol = await age.X25519Identity.generate(p);
    const fileKey = await age.unwrapFileKey(p, file.subarray(0, headerLength), [alice]);
    const newHeader = await age.rewrapHeader(p, fileKey, [alice.recipient(), carol.recipient()]);
    const shared = concat(newHeader, payload);
    expect(shared.subarray(newHeader.length)).toEqual(file.subarray(headerLength));
    const plain = await age.decryptFile(p, file, [alice]);
    expect(await age.decryptFile(p, shared, [carol])).toEqual(plain);
    expect(await age.decryptFile(p, shared, [alice])).toEqual(plain);
    await rejects(age.decryptFile(p, shared, [bob]), 'ERR_AGE_NO_MATCH');
    await rejects(age.unwrapFileKey(p, newHeader, [bob]), 'ERR_AGE_NO_MATCH');
  });

  it('addRecipients keeps the existing stanzas and needs the right file key', async () => {
    const { alice, bob, file, headerLength } = await setup(10);
    const header = file.subarray(0, headerLength);
    const carol = await age.X25519Identity.generate(p);
    const fileKey = await age.unwrapFileKey(p, header, [bob]);
    const grown = await age.addRecipients(p, header, fileKey, [carol.recipient()]);
    // Everything before the MAC line ("--- " + 43 + LF = 48 bytes) is kept as it was.
    expect(grown.subarray(0, headerLength - 48)).toEqual(header.subarray(0, headerLength - 48));
    for (const id of [alice, bob, carol]) expect(await age.unwrapFileKey(p, grown, [id])).toEqual(fileKey);
    await rejects(age.addRecipients(p, header, age.generateFileKey(p), [carol.recipient()]), 'ERR_AGE_MAC');
  });

  it('wrapFileKey and the stand-alone header reject trailing bytes', async () => {
    const id = await age.X25519Identity.generate(p);
    const { fileKey, header } = await age.wrapFileKey(p, [id.recipient()]);
    expect(fileKey.length).toBe(16);
    expect(age.headerLength(header)).toBe(header.length);
    expect(age.headerLength(header.subarray(0, header.length - 1))).toBe(-1);
    await rejects(age.unwrapFileKey(p, concat(header, Uint8Array.of(0)), [id]), 'ERR_AGE_HEADER');
  });
});

describe('Bech32 (BIP-173) and age key encodings', () => {
  // BIP-173 "Test vectors": valid checksums.
  const valid = [
    'A12UEL5L',
    'a12uel5l',
    'an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs',
    'abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw',
    `11${'q'.repeat(82)}c8247j`,
    'split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w',
    '?1ezyfcl',
  ];
  // BIP-173 invalid checksums. The 90-character limit is dropped by age.md ("without length
  // limits"), so "an84characterslong…1569pvx" (overall max length exceeded) is accepted here.
  const invalid = [
    `${String.fromCharCode(0x20)}1nwldj5`,
    `${String.fromCharCode(0x7f)}1axkwrx`,
    `${String.fromCharCode(0x80)}1eym55h`,
    'pzry9x0s0muk',
    '1pzry9x0s0muk',
    'x1b4n0q5v',
    'li1dgmt3',
    `de1lg7wt${String.fromCharCode(0xff)}`,
    'A1G7SGD8',
    '10a06t8',
    '1qzzfhee',
  ];
  it.each(valid)('valid: %s', (s) => {
    const { hrp, words } = age.bech32DecodeWords(s);
    expect(hrp).toBe(s.slice(0, s.lastIndexOf('1')).toLowerCase());
    expect(words.length).toBe(s.length - hrp.length - 7);
  });
  it.each(invalid)('invalid: %j', (s) => {
    expect(() => age.bech32DecodeWords(s)).toThrow(age.AgeEncodingError);
  });
  it('the 90-character limit is not applied (age.md)', () => {
    expect(age.bech32DecodeWords('an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx').hrp).toHaveLength(84);
  });
  it('mixed case is rejected; encode/decode round-trip', () => {
    expect(() => age.bech32Decode('A12uel5l')).toThrow(age.AgeEncodingError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (data, upper) => {
        const s = age.bech32Encode('age', data, upper);
        expect(s).toBe(upper ? s.toUpperCase() : s.toLowerCase());
        expect(age.bech32Decode(s).data).toEqual(data);
      }),
    );
  });
  it('age.md example identity and recipient', async () => {
    const secret = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
    const id = await age.X25519Identity.parse(p, secret);
    expect(id.toString()).toBe(secret);
    expect(id.recipient().toString()).toBe('age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj');
    expect(age.X25519Recipient.parse('age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj').publicKey).toEqual(id.publicKey);
    expect(() => age.X25519Recipient.parse(secret)).toThrow(age.AgeEncodingError);
    await expect(age.X25519Identity.parse(p, id.recipient().toString())).rejects.toThrow(age.AgeEncodingError);
  });
});

describe('age decoders on hostile input', () => {
  const onlyLibraryErrors = async (f: () => unknown) => {
    try {
      await f();
    } catch (e) {
      if (!(e instanceof BlindrelayError)) throw e;
    }
  };
  it('random and mutated inputs only ever raise library errors', async () => {
    const { alice, file } = await setup(300);
    const armored = age.armor(file);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.array(fc.tuple(fc.nat(file.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => {
            const t = file.slice();
            for (const [i, b] of edits) t[i] = b;
            return t;
          }),
          fc.nat(file.length).map((n) => file.subarray(0, n)),
          fc.tuple(fc.nat(armored.length - 1), fc.string({ maxLength: 3 })).map(([i, s]) => enc.encode(armored.slice(0, i) + s + armored.slice(i + 1))),
        ),
        async (input) => {
          await onlyLibraryErrors(() => age.parseHeader(input));
          await onlyLibraryErrors(() => age.dearmor(input));
          await onlyLibraryErrors(() => age.bech32Decode(new TextDecoder('latin1').decode(input)));
          await onlyLibraryErrors(() => age.decryptFile(p, input, [alice]));
        },
      ),
      { numRuns: 300 },
    );
  });
});
