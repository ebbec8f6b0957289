/**
 * Interop with the reference `age` binary (Debian age 1.1.1): files we encrypt decrypt with
 * `age -d -i KEYFILE` using our AGE-SECRET-KEY-1… encoding, and files `age -e -r age1…` makes
 * for our recipient decrypt with ours. Skipped loudly without the binary, unless
 * BLINDRELAY_REQUIRE_SERVICES=1, which turns the absence into a failure. (`age -p` reads the
 * passphrase from a terminal, so scrypt interop rests on the CCTV scrypt vectors.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as age from '../src/age/index.js';
import { createNodePrimitives } from '../src/primitives/node.js';

const AGE = '/usr/bin/age';
const AGE_KEYGEN = '/usr/bin/age-keygen';
const present = existsSync(AGE) && existsSync(AGE_KEYGEN);
const required = process.env.BLINDRELAY_REQUIRE_SERVICES === '1';
if (!present) console.warn(`SKIPPED age interop: ${AGE} not found${required ? ' (BLINDRELAY_REQUIRE_SERVICES=1: failing)' : ''}`);

const p = createNodePrimitives();
const dir = mkdtempSync(join(tmpdir(), 'blindrelay-age-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(bin: string, args: string[], input?: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync(bin, args, { input, maxBuffer: 64 * 1024 * 1024 }));
}

const SIZES: [string, number][] = [
  ['empty', 0],
  ['one byte', 1],
  ['exactly one chunk', 64 * 1024],
  ['200 KiB (4 chunks)', 200 * 1024],
];

describe('age binary interop', () => {
  it('the age binary is available (or the suite is allowed to skip)', () => {
    if (required) expect(present, `${AGE} required by BLINDRELAY_REQUIRE_SERVICES=1`).toBe(true);
  });

  describe.skipIf(!present)('with /usr/bin/age', () => {
    it.each(SIZES)('ours → age -d: %s', async (_name, size) => {
      const id = await age.X25519Identity.generate(p);
      const keyFile = join(dir, `ours-${size}.key`);
      writeFileSync(keyFile, `# created by blindrelay\n# public key: ${id.recipient().toString()}\n${id.toString()}\n`);
      const plaintext = p.randomBytes(size);
      const file = await age.encryptFile(p, plaintext, [id.recipient()]);
      expect(run(AGE, ['-d', '-i', keyFile], file)).toEqual(plaintext);
      const armored = await age.encryptFileArmored(p, plaintext, [id.recipient()]);
      expect(run(AGE, ['-d', '-i', keyFile], new TextEncoder().encode(armored))).toEqual(plaintext);
    });

    it.each(SIZES)('age -e -r → ours: %s', async (_name, size) => {
      const id = await age.X25519Identity.generate(p);
      const plaintext = p.randomBytes(size);
      const file = run(AGE, ['-e', '-r', id.recipient().toString()], plaintext);
      expect(await age.decryptFile(p, file, [id])).toEqual(plaintext);
      const armored = run(AGE, ['-e', '-a', '-r', id.recipient().toString()], plaintext);
      expect(age.isArmored(armored)).toBe(true);
      expect(await age.decryptFile(p, armored, [id])).toEqual(plaintext);
    });

    it('age-keygen identities parse and give the same recipient as age-keygen -y', async () => {
      const keyFile = join(dir, 'keygen.key');
      execFileSync(AGE_KEYGEN, ['-o', keyFile], { stdio: 'ignore' });
      const secret = execFileSync('grep', ['^AGE-SECRET-KEY-1', keyFile]).toString().trim();
      const expected = execFileSync(AGE_KEYGEN, ['-y', keyFile]).toString().trim();
      const id = await age.X25519Identity.parse(p, secret);
      expect(id.recipient().toString()).toBe(expected);
      expect(id.toString()).toBe(secret);
      // A file for several recipients, one of them ours, made by age.
      const other = await age.X25519Identity.generate(p);
      const plaintext = p.randomBytes(5000);
      const file = run(AGE, ['-e', '-r', other.recipient().toString(), '-r', expected], plaintext);
      expect(await age.decryptFile(p, file, [id])).toEqual(plaintext);
    });
  });
});
