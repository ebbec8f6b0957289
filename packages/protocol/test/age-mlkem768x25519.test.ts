/**
 * age mlkem768x25519 (X-Wing hybrid post-quantum) recipients: the KEM's parameters, the age.md
 * example keys and stanza, a known answer from the CCTV `hybrid` vector, round trips, tampering
 * (no match vs header error as age.md requires), and the rule on mixing with X25519 recipients.
 * The full CCTV hybrid set runs in age-cctv.test.ts.
 */
import { createHash } from 'node:crypto';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { describe, expect, it } from 'vitest';
import * as age from '../src/age/index.js';
import { BlindrelayError } from '../src/errors.js';
import { createNodePrimitives } from '../src/primitives/node.js';
import { createWebPrimitives } from '../src/primitives/web.js';
import { loadVectors } from './age/cctv.js';

const p = createNodePrimitives();
const web = createWebPrimitives();
const enc = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toSatisfy((e: unknown) => e instanceof BlindrelayError && e.code === code);
}

// age.md "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient type": example encodings.
const SPEC_IDENTITY = 'AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR';
const SPEC_RECIPIENT =
  'age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrqtzdxz95paef6caq5aapdmwjjqpjfdyxnzr2zampc3uxy0dg4z2n2gm9su72p0pc3u0jvev55l694v78snxg3yzvcl7yda0eyytqj6a0ec477lnhcy5hzpz4zq3pxanve4cn62gqj3pjy5lqj9c6kyj4v2z8alktn8zh99970x79gjkv7522hv9kfz35zsnxhsx8wwtmu9cy3ftzjgwcp4sshn3llnylnpdsyz5jm72vefv4x5vfwytrefxg4wq3mv42wcrvkj742479zrxzpvp2p3e9fed9f0739vcu80r7ma28qfhnvlv4gfzel9q654dj3zmuvvz893azhxdvs9fxd0r7jzchzcfcs5mkyyjxhw0n2z6dvp9yn9qfdp29h0azxqyjw6v7fhyuzj7zel0uq6j9rd7wgrpz7mf5dnj43jwsgvrc8qcnhy7tu6dkdujuxzkp9xj43xe8h92ktre2a3u3s8mm5mrp9nr9pwkgtz4mdlq9hgn4fps4k57ff6wddn2fy23t47sm20r8km8sd2pcyyafnet8f0dajsrlyjeah4n3mssr6aseevuuskdvq5lzguyvpgwpta742c6698vgutzqgny8usfg0w2he7kq5vyxjd0f9hqg8xk26y9e4th0gezq92q4cpp5p2y9hf5f2cje5l0c3sa3a2qxmm38pxxvhxh99yzmfz0zk7r2s64nnwjhkfgfr3gf8xnmppcgmaykvh5sh6g7vk9790rf8ws0axmr2t7z8aae5fq2029uvcn2ghgt4fu4wgwdc0k0cz52qkvwmuzj8p8k5jgf3xzk5zmrkavjekjrpeq408xz3zxazwkc6tyfmhayrkfpjhwtz5mp8j8guqe43k2q6m2kte03vrw27y3wmqyu5etmt9dnkwcnnpmu9gz9dekfhdevf42ucshphnrk38ra6hx8w5f8q5ru0xdhrjxmwqf6cused7zc5xvq43r0zscjglpwlptpwydhqw64xz7ptjdyeyzpq2zkxtmzg29gzjpvzva4d3l0cenn9xs297wf4y4ukwrunf57xj6pm7nvrkwvtrt8hwcmgv8x7ajw7258ugf9wvkmk4052ekg87tw5vnx8nq2swyzv77v8yqlwsenvamr0zssknwts8rrhfuwj7ykysnq9jxy0uv3kuyt22djszjdtvpz6d0s0kwh8ryynddzud92emeyvvyqktd0jtj7rvvg5gch25v8smlvny3kvn5gagyz475ze2y6q466xqmz2n3hs77lddeqyta2nch5k2u5yacuk9ywnwfdzvyejnucz724hj77hrrmakm7pr3kxsrxq22ejexlud9fy2kdqmkg5yncz7jm5wv2qjk5w5kvcpqsry2yqffh2la52dxfjkjq5rzhjzeyn6dupn0qwtyv7s4lwg3xdarsdlwe2y3tujy480y7z39q259fzx6jhd2j0f5hagqpcpees7hzc2yrk5cy788uk3s7qvp5cpepx24gvws3m2g433exgwppnkjscec8qu4y9z9r7vccexjcjaen42245lmgmxmuavg9alej92322gvvyy2t6267v09ch64y0m53jff0vjj96s0ypk60hr3jw4myd6m5hpn3xjstx7tl2szhpr5qe8jj08ydjc4wy2rch2fhuy3pdfjax5awe9j99ly5hkntzz9fe5zatgjvzdd0kgtxs25njnajyf6ssekp7gelxquusn4pt25czh3scj68kq79wdn5tgm6yvm9nzavrg043x3msnygf8dweknw5jmqd0uvny6ttsn09508k0c55zfnegrm9efhxpfqdkmhh6gjtqmwze9pyyzk3tlhl53k2ykx3qheyty7saeq0d3fzv49zc0k';
// age.md "mlkem768x25519 recipient stanza": the example stanza (it opens with the example identity).
const SPEC_ENC =
  'U7E10Aon27j1oDrH7fP3B++SPROSnDVvQpBemzOM+ZcsojxJifUbeeYWejMYKNB+H3rlXNvgtDKfSCkt78oqncr3faY1JtMj0GQPBZ2g6t8o1cMzZgyLMepeVuTQKxLqnM6L48n8dJL2y0N3i7WSOV6csB79r9tcIs88Al9iCwVLpt74OzDXAIwD1QlCAvj75ZEnwtgP6Xr6s+wHg9hLD0OSSQOaTdCqzR5shQWyrjVs7GCqd/5WbNGYNaolPQJBu9wTNhHjP9XGCTv8iKXkYwXDYujInkF5hOjpCHE8Vu+9UeMI+l0GJAEervT51bwaf288GiqgapP5g4HF8V4P0+03B/SwXhvxxZpKjTU2OcFS8I9chtEZ7Ucw5bvPkC1lyjNnqQXZyc4JnAqbFQTlPGnwbEsm0UGE+v0FOxTBznIivHoPHV++5PuYpombiV/lfYy8BFx0Hk1igNI3iLNjlIg4MLXNWjN3VROlXIiSsWNXjr/Frh/OE87PXoaKhsDPWfv6akd9PxSDqJMQ4j8k11kCSOnnU8Rw4TSVnTpt7gfYzBULrMr7qDgyH/TYvp0o7mAq4IaraFJmTqm+LjfAJT4PCQOpnMNRHLyXZn6mtMUujNv7+zR/I9Vqi+bJdQBwNWdJcUQVarqx2zxV2rM7l+j0gsmxjxp5yAPyALzla7XzVvbboLMnHeM+CzN4GoB2PC4neVDSw7Dfs8vbm7f9CeDGvhjWrzcSCOsUCalvH1WkbpE0b9cE/TSJqwXFXEc8npTSQWH58RXDALNF3qCbW5LaboD4wCloClEakgljT0s0mTdqIwzj4xtdlX0S2dCtaV5MHQJiQHGwPvBSCiIsh8ZWJPwZ7Ron7xoWgNI0lXRqhKm7fvFNCzF+Ray2kOyKWHbsMy3a5Zx3yZxCGFwexAxgYfAH9HJ1raHi1XYGpNpBlDXg47U1y4uU7RBeBb4ewETv/B/p8sGW88tIY87dHM2xHjnntGXLvkCIkmjXGNULAVYHxDPJTygxSF7uTVPYCBUk5KeLnDVcgWF8p/wxigza47ptMtpVtm9ZrSEu9vzOnaTN3KO75RkkLuZszhXfmMZ46NQrdS7Y6duCiN501BnR5BUC4dX4iMxchix6aLN3pKv6UOEwwcx2aSF4Ib963MAtTPEjhqe+dt0VcTar/08uLWv1kQQueFaEGet4KQ975ZqaoU3PmZH9gqTOumX1EKf0Pnl0F3NMW+lEOlnCEce99zHBwBf7LV0pLNLDONBxpQySrZUQsNfhAq2Ktf5nG2hcGAMFMWIsEOuOyzEe+l2aHW4/ojOjU1Oqy4TLzVVRlWmPxQde7qKbvBN7CQhDqJHJA2nphQT/4DOdLqkwRiauMmnfx9FI3+hYnX25NpnyvM/Pt94vpsRkhcuttu4/G4xOYTNQd2YWjGwhypZ0oPSiriuTbhj6y2qm33jiwxvegeDz8CmAIhOEY2JoVpjjX9XzuNR2f5KTLmLzEkOcJQ';
const SPEC_BODY = 'c/k+TjhBA6Je1DF8rxZhe2Jm8CN0zbkV9rre6nA8g98';

/** A header for one fresh identity, with its file key, to rebuild with altered stanzas. */
async function pqHeader() {
  const id = age.MlKem768X25519Identity.generate(p);
  const { fileKey, header } = await age.wrapFileKey(p, [id.recipient()]);
  const [stanza] = age.parseHeader(header).stanzas as [age.Stanza];
  // Re-MAC under the real file key so that only the stanza decides the outcome, never the MAC.
  const unwrapWith = async (s: age.Stanza) => age.unwrapFileKey(p, await age.encodeHeader(p, fileKey, [s]), [id]);
  return { id, fileKey, stanza, enc: age.decodeAgeBase64(stanza.args[1] as string) as Uint8Array, unwrapWith };
}

const withEnc = (s: age.Stanza, e: Uint8Array): age.Stanza => ({ args: [s.args[0] as string, age.encodeAgeBase64(e)], body: s.body });
const flipBit = (b: Uint8Array, bit: number) => {
  const c = b.slice();
  c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
  return c;
};

describe('mlkem768x25519: KEM and encodings', () => {
  it('@noble/post-quantum ml_kem768_x25519 has X-Wing sizes (32-byte seed, 1216-byte key, 1120-byte enc)', () => {
    expect(ml_kem768_x25519.lengths).toMatchObject({ seed: 32, secretKey: 32, publicKey: 1216, cipherText: 1120, msg: 32, msgRand: 64 });
    const { publicKey, secretKey } = ml_kem768_x25519.keygen(p.randomBytes(32));
    const { cipherText, sharedSecret } = ml_kem768_x25519.encapsulate(publicKey);
    expect(ml_kem768_x25519.decapsulate(cipherText, secretKey)).toEqual(sharedSecret);
    expect(sharedSecret.length).toBe(32);
  });

  it('age.md example identity and recipient (PrivateKeyToPublicKey known answer)', () => {
    const id = age.MlKem768X25519Identity.parse(SPEC_IDENTITY);
    expect(id.toString()).toBe(SPEC_IDENTITY);
    expect(id.recipient().toString()).toBe(SPEC_RECIPIENT);
    expect(SPEC_RECIPIENT.length).toBeGreaterThan(90); // past BIP-173's limit, which age drops
    expect(age.MlKem768X25519Recipient.parse(SPEC_RECIPIENT).publicKey).toEqual(id.publicKey);
    expect(age.MlKem768X25519Identity.parse(SPEC_IDENTITY.toLowerCase()).seed).toEqual(id.seed);
    // Wrong type or length under another HRP.
    expect(() => age.MlKem768X25519Recipient.parse('age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj')).toThrow(age.AgeEncodingError);
    expect(() => age.MlKem768X25519Identity.parse('AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX')).toThrow(age.AgeEncodingError);
    expect(() => age.MlKem768X25519Identity.parse(SPEC_RECIPIENT)).toThrow(age.AgeEncodingError);
    expect(() => age.X25519Recipient.parse(SPEC_RECIPIENT)).toThrow(age.AgeEncodingError);
  });

  it('age.md example stanza opens with the example identity; a changed body does not', async () => {
    const id = age.MlKem768X25519Identity.parse(SPEC_IDENTITY);
    const body = age.decodeAgeBase64(SPEC_BODY) as Uint8Array;
    const fileKey = await id.unwrap(p, { args: ['mlkem768x25519', SPEC_ENC], body });
    expect(fileKey?.length).toBe(16);
    expect(await id.unwrap(web, { args: ['mlkem768x25519', SPEC_ENC], body })).toEqual(fileKey);
    expect(await id.unwrap(p, { args: ['mlkem768x25519', SPEC_ENC], body: flipBit(body, 0) })).toBeNull();
  });

  it('known answer: the CCTV `hybrid` vector unwraps to its file key, stanza by stanza', async () => {
    const v = loadVectors().find((x) => x.name === 'hybrid');
    if (!v) throw new Error('CCTV vector `hybrid` missing');
    const header = age.parseHeader(v.file);
    expect(header.stanzas.length).toBe(1);
    const [stanza] = header.stanzas as [age.Stanza];
    expect(stanza.args[0]).toBe('mlkem768x25519');
    expect(age.decodeAgeBase64(stanza.args[1] as string)?.length).toBe(1120);
    const id = age.MlKem768X25519Identity.parse(v.identities[0] as string);
    const fileKey = (await id.unwrap(p, stanza)) as Uint8Array;
    expect(hex(fileKey)).toBe('59454c4c4f57205355424d4152494e45'); // the vector's "file key"
    await age.verifyHeaderMac(p, header, fileKey);
    const payload = await age.decryptPayload(p, fileKey, v.file.subarray(header.length));
    expect(createHash('sha256').update(payload).digest('hex')).toBe(v.payload);
    // Another identity does not match.
    expect(await age.MlKem768X25519Identity.generate(p).unwrap(p, stanza)).toBeNull();
  });
});

describe('mlkem768x25519: round trips', () => {
  it('node and web primitives both ways; one stanza per recipient, 1120-byte enc, 32-byte body', async () => {
    const alice = age.MlKem768X25519Identity.generate(p);
    const bob = age.MlKem768X25519Identity.parse(age.MlKem768X25519Identity.generate(web).toString());
    const plaintext = p.randomBytes(70_000);
    const recipients = [age.MlKem768X25519Recipient.parse(alice.recipient().toString()), bob.recipient()];
    const fromNode = await age.encryptFile(p, plaintext, recipients);
    const fromWeb = await age.encryptFile(web, plaintext, recipients);
    for (const id of [alice, bob]) {
      expect(await age.decryptFile(web, fromNode, [id])).toEqual(plaintext);
      expect(await age.decryptFile(p, fromWeb, [id])).toEqual(plaintext);
    }
    const { stanzas } = age.parseHeader(fromNode);
    expect(stanzas.map((s) => s.args.length)).toEqual([2, 2]);
    for (const s of stanzas) {
      expect(s.args[0]).toBe('mlkem768x25519');
      expect(age.decodeAgeBase64(s.args[1] as string)?.length).toBe(1120);
      expect(s.body.length).toBe(32);
    }
    const armored = await age.encryptFileArmored(p, plaintext, [bob.recipient()]);
    expect(await age.decryptFile(p, enc.encode(armored), [alice, bob])).toEqual(plaintext);
    await rejects(age.decryptFile(p, fromNode, [age.MlKem768X25519Identity.generate(p), await age.X25519Identity.generate(p)]), 'ERR_AGE_NO_MATCH');
  });

  it('all randomness comes from Primitives.randomBytes: a fixed source gives the same stanza', async () => {
    const fixed = () => createNodePrimitives({ randomBytes: (n) => new Uint8Array(n).fill(0x5a) });
    const id = age.MlKem768X25519Identity.generate(p);
    const fileKey = p.randomBytes(16);
    const [a] = await id.recipient().wrap(fixed(), fileKey);
    const [b] = await id.recipient().wrap(fixed(), fileKey);
    expect(a).toEqual(b);
    expect(await id.unwrap(p, a as age.Stanza)).toEqual(fileKey);
    const [c] = await id.recipient().wrap(p, fileKey);
    expect(c?.args[1]).not.toBe(a?.args[1]);
    expect(age.MlKem768X25519Identity.generate(fixed()).toString()).toBe(age.MlKem768X25519Identity.fromSeed(new Uint8Array(32).fill(0x5a)).toString());
  });

  it('re-wrapping and adding post-quantum recipients keeps the payload', async () => {
    const alice = age.MlKem768X25519Identity.generate(p);
    const bob = age.MlKem768X25519Identity.generate(p);
    const { fileKey, header } = await age.wrapFileKey(p, [alice.recipient()]);
    const both = await age.addRecipients(p, header, fileKey, [bob.recipient()]);
    expect(await age.unwrapFileKey(p, both, [bob])).toEqual(fileKey);
    expect(await age.unwrapFileKey(p, await age.rewrapHeader(p, fileKey, [bob.recipient()]), [bob])).toEqual(fileKey);
  });

  it('an unusable recipient key is refused when wrapping', async () => {
    // 0xff…: ML-KEM-768 coefficients ≥ q fail the FIPS 203 §7.2 encapsulation key check.
    await rejects(new age.MlKem768X25519Recipient(new Uint8Array(1216).fill(0xff)).wrap(p, p.randomBytes(16)), 'ERR_INVALID_KEY');
    // A valid ML-KEM key with a low-order X25519 point (u = 0).
    const pk = age.MlKem768X25519Identity.generate(p).publicKey.slice();
    pk.fill(0, 1184);
    await rejects(new age.MlKem768X25519Recipient(pk).wrap(p, p.randomBytes(16)), 'ERR_INVALID_KEY');
    expect(() => new age.MlKem768X25519Recipient(new Uint8Array(1184))).toThrow(/1216-byte/);
    expect(() => age.MlKem768X25519Identity.fromSeed(new Uint8Array(64))).toThrow(/32-byte/);
  });
});

describe('mlkem768x25519: tampering', () => {
  it('bit flips in enc (ML-KEM and X25519 parts) or in the body are no match', async () => {
    const { id, stanza, enc: e, unwrapWith } = await pqHeader();
    // ML-KEM ciphertext bits (implicit rejection gives another key), X25519 share bits, including
    // bit 255, which X25519 ignores but the X-Wing combiner hashes (ct_X is an input).
    const encBits = [0, 1, 7, 8 * 100 + 3, 8 * 544, 8 * 1087 + 7, 8 * 1088, 8 * 1100 + 5, 8 * 1120 - 1];
    for (const bit of encBits) await rejects(unwrapWith(withEnc(stanza, flipBit(e, bit))), 'ERR_AGE_NO_MATCH');
    for (const bit of [0, 77, 8 * 16, 255]) await rejects(unwrapWith({ args: stanza.args, body: flipBit(stanza.body, bit) }), 'ERR_AGE_NO_MATCH');
    // The same flips seen by the identity directly: null, not an exception.
    expect(await id.unwrap(p, stanza)).not.toBeNull();
    expect(await id.unwrap(p, withEnc(stanza, flipBit(e, 9)))).toBeNull();
  });

  it('malformed stanzas of this type are header errors; other types are ignored', async () => {
    const { stanza, enc: e, unwrapWith } = await pqHeader();
    const b64 = stanza.args[1] as string;
    const headerError = async (s: age.Stanza) => rejects(unwrapWith(s), 'ERR_AGE_HEADER');
    await headerError({ args: [...stanza.args, 'x'], body: stanza.body }); // extra argument
    await headerError({ args: ['mlkem768x25519'], body: stanza.body }); // missing enc
    await headerError(withEnc(stanza, e.subarray(0, 1119))); // short enc
    await headerError(withEnc(stanza, new Uint8Array([...e, 0]))); // long enc
    await headerError({ args: stanza.args, body: stanza.body.subarray(0, 31) }); // short body
    await headerError({ args: stanza.args, body: new Uint8Array([...stanza.body, 0]) }); // long body
    await headerError({ args: stanza.args, body: new Uint8Array(0) });
    // 1120 bytes = 1493⅓ base64 characters: the last one carries 4 pad bits that must be zero.
    const last = b64.charCodeAt(b64.length - 1);
    const nonCanonical = b64.slice(0, -1) + String.fromCharCode(last === 0x41 ? 0x42 : last ^ 1);
    expect(age.decodeAgeBase64(nonCanonical)).toBeNull();
    await headerError({ args: ['mlkem768x25519', nonCanonical], body: stanza.body });
    await headerError({ args: ['mlkem768x25519', `${b64}=`], body: stanza.body });
    // Low-order X25519 shares (u = 0, u = 1): the all-zero X25519 output is refused.
    for (const u of [0, 1]) {
      const low = e.slice();
      low.fill(0, 1088);
      low[1088] = u;
      await headerError(withEnc(stanza, low));
    }
    // Not this type: ignored (no match), however malformed.
    await rejects(unwrapWith({ args: ['MLKEM768X25519', b64], body: stanza.body }), 'ERR_AGE_NO_MATCH');
    await rejects(unwrapWith({ args: ['mlkem768x25519x', 'a', 'b'], body: new Uint8Array(3) }), 'ERR_AGE_NO_MATCH');
  });
});

describe('mlkem768x25519 and X25519 in one file', () => {
  it('age.md: SHOULD NOT encrypt to both; we refuse to build such a header', async () => {
    const pq = age.MlKem768X25519Identity.generate(p);
    const x = await age.X25519Identity.generate(p);
    await rejects(age.encryptFile(p, enc.encode('hi'), [pq.recipient(), x.recipient()]), 'ERR_INVALID_ARGUMENT');
    await rejects(age.wrapFileKey(p, [x.recipient(), pq.recipient()]), 'ERR_INVALID_ARGUMENT');
    // Nor by adding to an existing header, in either direction.
    const classic = await age.wrapFileKey(p, [x.recipient()]);
    await rejects(age.addRecipients(p, classic.header, classic.fileKey, [pq.recipient()]), 'ERR_INVALID_ARGUMENT');
    const quantum = await age.wrapFileKey(p, [pq.recipient()]);
    await rejects(age.addRecipients(p, quantum.header, quantum.fileKey, [x.recipient()]), 'ERR_INVALID_ARGUMENT');
  });

  it('a mixed header written elsewhere still decrypts with either identity (CCTV hybrid_and_x25519)', async () => {
    const pq = age.MlKem768X25519Identity.generate(p);
    const x = await age.X25519Identity.generate(p);
    const fileKey = age.generateFileKey(p);
    const stanzas = [...(await x.recipient().wrap(p, fileKey)), ...(await pq.recipient().wrap(p, fileKey))];
    const plaintext = enc.encode('mixed header');
    const file = new Uint8Array([...(await age.encodeHeader(p, fileKey, stanzas)), ...(await age.encryptPayload(p, fileKey, plaintext))]);
    expect(await age.decryptFile(p, file, [pq])).toEqual(plaintext);
    expect(await age.decryptFile(p, file, [x])).toEqual(plaintext);
    expect(await age.decryptFile(p, file, [age.MlKem768X25519Identity.generate(p), x])).toEqual(plaintext);
  });
});
