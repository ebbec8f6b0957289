/**
 * The public surface of the packages is what api/*.api.md says (scripts/api-report.ts): a change to
 * an entry point's exports (a name added or removed, a signature or a member changed) fails here
 * until the report is regenerated (`npx tsx scripts/api-report.ts --write`), so it shows in review.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_PACKAGES, apiReports, reportPath } from '../scripts/api-report.js';

describe('API reports', () => {
  let reports: Map<string, string>;
  beforeAll(() => {
    reports = apiReports();
  }, 120_000);

  it('api/*.api.md match the packages’ entry points', () => {
    for (const pkg of API_PACKAGES) {
      const expected = reports.get(pkg);
      // Compared line by line so a failure names the first lines that differ.
      expect(readFileSync(reportPath(pkg), 'utf8').split('\n'), `api/${pkg}.api.md is out of date: npx tsx scripts/api-report.ts --write`).toEqual(
        expected?.split('\n'),
      );
    }
  });

  it('the curated indexes keep the internals out', () => {
    const protocol = reports.get('protocol') ?? '';
    const client = reports.get('client') ?? '';
    for (const internal of ['function kdfRk', 'function kdfCk', 'function pqxdhKdf', 'function associatedData']) expect(protocol).not.toContain(internal);
    for (const internal of ['class Transaction', 'function pushBounded', 'function sessionKey', 'function addBaseKey', 'class RelayApi'])
      expect(client).not.toContain(internal);
  });
});
