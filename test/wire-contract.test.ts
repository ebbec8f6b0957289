/**
 * One wire contract (issue 15; ../shared/reviews/structure-2026-12.md, change 1): the relay's own
 * `/openapi.json` read against the SDK's parsers and the shared table `@blindrelay/protocol/wire`.
 *
 * - Every error response the relay documents carries the contract's codes (its `code` enum is
 *   RELAY_WIRE_CODES; each documented status has codes of that status), and for each of them the
 *   SDK's `relayError`, fed a body built from the relay's ErrorBody schema (every optional field
 *   given a value of its declared type), yields the contract's SDK code, the status, and every
 *   structured field (missing/stale devices, received bytes, quota, server time, send mark).
 * - A message envelope built from the relay's schema parses in the SDK without a fault, and each
 *   bound the relay declares (device id range, user name length, time ≥ 0) is one the SDK enforces:
 *   a value just outside it is a fault, just inside is not.
 */
import { RELAY_ERRORS, RELAY_WIRE_CODES, type RelayWireCode } from '@blindrelay/protocol/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvelope } from '../packages/client/src/api.js';
import { type ClientError, relayError } from '../packages/client/src/errors.js';
import { startTestServer, type TestServer } from '../packages/server/test/helpers.js';
import { canRunRelay } from './runtime.js';

interface Schema {
  type?: string;
  enum?: string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  description?: string;
}
interface Operation {
  responses: Record<string, { description?: string; content?: Record<string, { schema: Schema }> }>;
}
type OpenApi = { paths: Record<string, Record<string, Operation>> };

/** A value of the schema's declared type (inside its bounds). */
function sample(s: Schema): unknown {
  if (s.type === 'integer' || s.type === 'number') return Math.max(s.minimum ?? 0, 7);
  if (s.type === 'array') return [sample(s.items ?? { type: 'integer' }), sample(s.items ?? { type: 'integer' })];
  if (s.type === 'boolean') return true;
  return 'c2lnbmF0dXJl';
}

describe.skipIf(!canRunRelay())('wire contract: the relay’s /openapi.json against the SDK', () => {
  let t: TestServer;
  let doc: OpenApi;
  beforeAll(async () => {
    t = await startTestServer();
    const r = await fetch(`${t.url}/openapi.json`);
    expect(r.status).toBe(200);
    doc = (await r.json()) as OpenApi;
  });
  afterAll(() => t?.close());

  const errorResponses = () => {
    const out: { route: string; status: number; schema: Schema }[] = [];
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods))
        for (const [status, response] of Object.entries(op.responses ?? {})) {
          if (Number(status) < 400) continue;
          const schema = response.content?.['application/json']?.schema;
          if (!schema) throw new Error(`${method.toUpperCase()} ${path} ${status}: no JSON schema`);
          out.push({ route: `${method.toUpperCase()} ${path}`, status: Number(status), schema });
        }
    return out;
  };

  it('every documented error response carries the contract’s codes, with a code for its status', () => {
    const responses = errorResponses();
    expect(responses.length).toBeGreaterThan(50);
    for (const { route, status, schema } of responses) {
      expect(schema.properties?.code?.enum, route).toEqual(RELAY_WIRE_CODES);
      expect(
        RELAY_WIRE_CODES.some((c) => RELAY_ERRORS[c].status === status),
        `${route}: status ${status} has no code in the contract`,
      ).toBe(true);
    }
  });

  it('the SDK maps every code the relay documents to its typed error, with every structured field', () => {
    const seen = new Set<RelayWireCode>();
    for (const { status, schema } of errorResponses()) {
      for (const code of RELAY_WIRE_CODES.filter((c) => RELAY_ERRORS[c].status === status)) {
        seen.add(code);
        const body: Record<string, unknown> = { code, message: 'm' };
        for (const [name, field] of Object.entries(schema.properties ?? {})) if (name !== 'code' && name !== 'message') body[name] = sample(field);
        const e = relayError(status, body) as unknown as ClientError & Record<string, unknown>;
        expect(e.code, code).toBe(RELAY_ERRORS[code].sdk);
        expect(e.status, code).toBe(status);
        expect(e.relayCode, code).toBe(code);
        const fields: Partial<Record<RelayWireCode, string[]>> = {
          mismatched_devices: ['missing', 'stale'],
          queue_full: ['devices'],
          offset_mismatch: ['received'],
          quota_exceeded: ['quotaBytes', 'usedBytes'],
          stale_signature: ['serverTime'],
          send_mark_stale: ['mark', 'signature'],
        };
        for (const f of fields[code] ?? []) {
          expect(schema.properties?.[f], `${code}: the relay's ErrorBody declares ${f}`).toBeDefined();
          expect(e[f], `${code}.${f}`).toEqual(body[f]);
        }
      }
    }
    // The relay documents (somewhere) every status of the contract but 500/503 (any route, any time).
    expect([...seen].sort()).toEqual(RELAY_WIRE_CODES.filter((c) => RELAY_ERRORS[c].status < 500 && seen.has(c)).sort());
    expect(seen.size).toBeGreaterThanOrEqual(RELAY_WIRE_CODES.length - 4);
  });

  it('the SDK’s envelope parser accepts what the relay’s schema allows and refuses just outside its bounds', () => {
    const get = doc.paths['/v1/messages']?.get;
    const list = get?.responses['200']?.content?.['application/json']?.schema;
    const env = list?.properties?.messages?.items as Schema;
    // A sealed message (API.md §11) names no sender: `from`/`fromDevice` are optional, `sealed` marks it.
    expect(Object.keys(env.properties ?? {}).sort()).toEqual(['body', 'from', 'fromDevice', 'id', 'sealed', 'sentAt']);
    expect([...(env.required ?? [])].sort()).toEqual(['body', 'id', 'sentAt']);
    const p = env.properties as Record<string, Schema>;
    const good = { id: 'A'.repeat(p.id?.minLength ?? 22), from: 'alice', fromDevice: p.fromDevice?.minimum, sentAt: p.sentAt?.minimum, body: 'AAEC' };
    expect(parseEnvelope(good).fault).toBeUndefined();
    const { from: _f, fromDevice: _d, ...sealed } = good;
    expect(parseEnvelope({ ...sealed, sealed: true }).fault).toBeUndefined();
    const cases: [string, unknown, boolean][] = [
      ['fromDevice', p.fromDevice?.maximum, true],
      ['fromDevice', (p.fromDevice?.maximum as number) + 1, false],
      ['fromDevice', (p.fromDevice?.minimum as number) - 1, false],
      ['from', 'a'.repeat(p.from?.maxLength as number), true],
      ['from', 'a'.repeat((p.from?.maxLength as number) + 1), false],
      ['sentAt', (p.sentAt?.minimum as number) - 1, false],
      ['id', 'A'.repeat((p.id?.maxLength as number) + 1), false],
    ];
    for (const [field, value, ok] of cases) {
      const fault = parseEnvelope({ ...good, [field]: value }).fault;
      if (ok) expect(fault, `${field} = ${value}`).toBeUndefined();
      else expect(fault, `${field} = ${String(value).slice(0, 20)}`).toBeDefined();
    }
  });
});
