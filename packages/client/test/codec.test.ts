import { utf8 } from '@blindrelay/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64url, fromBase64urlPortable, toBase64url, toBase64urlPortable } from '../src/base64url.js';
import { decodeEnvelope, type Envelope, encodeEnvelope, MAX_ENVELOPE_BYTES, MAX_TEXT_BYTES } from '../src/envelope.js';
import { EnvelopeError, ProfileCorruptError } from '../src/errors.js';
import { decodeLinkState, encodeLinkState } from '../src/linking.js';
import { itemChars } from '../src/send-channel.js';

describe('base64url', () => {
  it('round-trips any bytes and matches Node', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const text = toBase64url(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64url'));
        expect(fromBase64url(text)).toEqual(bytes);
        // The portable path (browsers) gives the same, and decodes what the native one encodes.
        expect(toBase64urlPortable(bytes)).toBe(text);
        expect(fromBase64urlPortable(text)).toEqual(bytes);
      }),
    );
  });

  it('encodes a view into a larger buffer as the view only', () => {
    const big = Uint8Array.from({ length: 40 }, (_, i) => i);
    const view = big.subarray(5, 12);
    expect(toBase64url(view)).toBe(Buffer.from(view).toString('base64url'));
  });

  const long = 'A'.repeat(400); // long enough for the native path
  it.each([
    'A',
    'AB=',
    'AB==',
    'A+B/',
    'AB C',
    'ABé',
    'AB\n',
    'AF',
    'AAF',
    'AAAA=',
    '=',
    ' AAA',
    `${long}A`,
    `${long}AF`,
    `${long}AAF`,
    `${long}A+B/`,
    `${long}AB==`,
    `${long}AB C`,
    `${long}ABé`,
  ])('rejects %j', (bad) => {
    // 'AF', 'AAF' have non-zero trailing bits (non-canonical encodings of one and two bytes)
    expect(() => fromBase64url(bad)).toThrow(TypeError);
    expect(() => fromBase64urlPortable(bad)).toThrow(TypeError);
  });
});

const message: Envelope = { type: 'message', id: 'VEVNds0iToC0Mn9FyHB2Iw', sentAt: 1_700_000_000_000, text: 'hello ✓', recipient: 'bob', listVersion: 3 };
const sync: Envelope = { type: 'sync', id: 'VEVNds0iToC0Mn9FyHB2Iw', sentAt: 1_700_000_000_000, text: 'hi', to: 'alice', recipient: 'carol', listVersion: 1 };
const json = (o: unknown) => utf8(JSON.stringify(o));

describe('message envelope', () => {
  it('round-trips both types', () => {
    expect(decodeEnvelope(encodeEnvelope(message))).toEqual(message);
    expect(decodeEnvelope(encodeEnvelope(sync))).toEqual(sync);
    expect(JSON.parse(new TextDecoder().decode(encodeEnvelope(sync)))).toEqual({ v: 2, ...sync });
  });

  it('round-trips any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.nat({ max: 2 ** 50 }), (text, sentAt) => {
        const e: Envelope = { type: 'message', id: 'abcdefghijklmnopqrstuv', sentAt, text, recipient: 'bob', listVersion: 1 };
        expect(decodeEnvelope(encodeEnvelope(e))).toEqual(e);
      }),
    );
  });

  it('ignores unknown members (forward compatibility)', () => {
    expect(decodeEnvelope(json({ v: 2, ...message, replyTo: 'x', extra: [1] }))).toEqual(message);
  });

  const bad: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['not JSON', utf8('hello')],
    ['invalid UTF-8', Uint8Array.of(0x7b, 0xff, 0x7d)],
    ['null', json(null)],
    ['array', json([1, 2])],
    ['string', json('x')],
    ['no version', json({ ...message })],
    ['version 1 (no recipient or list version)', json({ v: 1, type: 'message', id: message.id, sentAt: 1, text: 'x' })],
    ['version 1 with the new members', json({ v: 1, ...message })],
    ['version 3', json({ v: 3, ...message })],
    ['version "2"', json({ ...message, v: '2' })],
    ['no recipient', json({ v: 2, type: 'message', id: message.id, sentAt: 1, text: 'x', listVersion: 1 })],
    ['bad recipient', json({ v: 2, ...message, recipient: 'Bob!' })],
    ['no listVersion', json({ v: 2, type: 'message', id: message.id, sentAt: 1, text: 'x', recipient: 'bob' })],
    ['listVersion 0', json({ v: 2, ...message, listVersion: 0 })],
    ['fractional listVersion', json({ v: 2, ...message, listVersion: 1.5 })],
    ['string listVersion', json({ v: 2, ...message, listVersion: '3' })],
    ['unknown type', json({ v: 2, ...message, type: 'receipt' })],
    ['no type', json({ v: 2, id: message.id, sentAt: 1, text: 'x' })],
    ['short id', json({ v: 2, ...message, id: 'abc' })],
    ['id with bad characters', json({ v: 2, ...message, id: 'abc+/abc+/abc+/abc+/ab' })],
    ['numeric id', json({ v: 2, ...message, id: 1234567890123456 })],
    ['negative sentAt', json({ v: 2, ...message, sentAt: -1 })],
    ['fractional sentAt', json({ v: 2, ...message, sentAt: 1.5 })],
    ['string sentAt', json({ v: 2, ...message, sentAt: '1' })],
    ['huge sentAt', json({ v: 2, ...message, sentAt: 2 ** 60 })],
    ['missing text', json({ v: 2, type: 'message', id: message.id, sentAt: 1 })],
    ['numeric text', json({ v: 2, ...message, text: 5 })],
    ['sync without partner', json({ v: 2, ...message, type: 'sync' })],
    ['sync with bad partner', json({ v: 2, ...sync, to: 'Alice!' })],
    ['text too long', json({ v: 2, ...message, text: 'x'.repeat(MAX_TEXT_BYTES + 1) })],
    ['too large', new Uint8Array(MAX_ENVELOPE_BYTES + 1).fill(0x20)],
  ];
  it.each(bad)('rejects %s with EnvelopeError', (_name, bytes) => {
    expect(() => decodeEnvelope(bytes)).toThrow(EnvelopeError);
    try {
      decodeEnvelope(bytes);
    } catch (e) {
      expect((e as EnvelopeError).code).toBe('ERR_BAD_ENVELOPE');
    }
  });

  it('refuses to encode an invalid envelope', () => {
    expect(() => encodeEnvelope({ ...message, id: 'x' })).toThrow(EnvelopeError);
    expect(() => encodeEnvelope({ ...sync, to: '' })).toThrow(EnvelopeError);
    expect(() => encodeEnvelope({ ...message, recipient: '' })).toThrow(EnvelopeError);
    expect(() => encodeEnvelope({ ...message, listVersion: 0 })).toThrow(EnvelopeError);
  });
});

describe('error classes', () => {
  it('every SDK error is a BlindrelayError with a stable ERR_ code', async () => {
    const { BlindrelayError } = await import('@blindrelay/protocol');
    const errors = await import('../src/errors.js');
    const e = new errors.KeyChangedError('alice');
    expect(e).toBeInstanceOf(errors.ClientError);
    expect(e).toBeInstanceOf(BlindrelayError);
    expect(e.code).toBe('ERR_KEY_CHANGED');
    expect(e.name).toBe('KeyChangedError');
  });
});

describe('link state (provisioning, PROTOCOL.md §12, §19.1)', () => {
  const device = {
    deviceId: 7,
    signingSeed: new Uint8Array(32).fill(1),
    identityPrivate: new Uint8Array(32).fill(2),
    filePrivate: new Uint8Array(32).fill(3),
    certificate: new Uint8Array([9, 9]),
  };
  const collections = new Map([
    [
      'Q29sbGVjdGlvbklkMDAwMA',
      {
        owner: 'alice',
        name: '.history',
        keys: [
          { epoch: 0, key: new Uint8Array(32).fill(4) },
          { epoch: 1, key: new Uint8Array(32).fill(5) },
        ],
      },
    ],
  ]);
  const state = { deviceList: new Uint8Array([1, 2, 3]), contacts: new Map(), device, collections };

  it('carries the collection keys; a state without them (an older approver) decodes with none', () => {
    expect(decodeLinkState(encodeLinkState(state)).collections).toEqual(collections);
    const old = JSON.parse(new TextDecoder().decode(encodeLinkState(state)));
    delete old.collections;
    expect(decodeLinkState(json(old)).collections).toEqual(new Map());
  });

  it.each([
    ['not a list', 'x'],
    ['a key of the wrong length', [{ id: 'a', owner: 'alice', name: 'n', keys: [{ epoch: 0, key: 'AAAA' }] }]],
    ['a negative epoch', [{ id: 'a', owner: 'alice', name: 'n', keys: [{ epoch: -1.5, key: toBase64url(new Uint8Array(32)) }] }]],
    ['no owner', [{ id: 'a', name: 'n', keys: [] }]],
  ])('refuses collections with %s', (_, bad) => {
    const o = JSON.parse(new TextDecoder().decode(encodeLinkState(state)));
    o.collections = bad;
    expect(() => decodeLinkState(json(o))).toThrow(ProfileCorruptError);
  });
});

describe('send frame item size', () => {
  it('itemChars is the length of the item as JSON', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9._-]{1,32}$/),
        fc.array(fc.record({ deviceId: fc.integer({ min: 1, max: 2 ** 31 - 1 }), body: fc.uint8Array({ minLength: 1, maxLength: 300 }) }), {
          minLength: 1,
          maxLength: 5,
        }),
        (to, messages) => {
          const item = { to, messages: messages.map((m) => ({ deviceId: m.deviceId, body: toBase64url(m.body) })) };
          expect(itemChars(item)).toBe(JSON.stringify(item).length);
        },
      ),
    );
  });
});
