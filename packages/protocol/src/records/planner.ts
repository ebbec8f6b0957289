/**
 * Token widths by the coincidence-count rule (docs/PROTOCOL.md §19.4), after CipherSweet's
 * planner (paragonie/ciphersweet, "Blind Index Planning"): a blind index of L bits over a
 * population of N indexed values is expected to map C = N / 2^(L + S) values onto each token,
 * where S is the sum of the widths of the other indexes already declared over the same field(s).
 * A width is safe when 2 ≤ C ≤ √N: at least two coincidences per token (a token never singles
 * out one value), at most √N (queries stay selective). The planner picks the largest safe L
 * (fewest false positives), at most the input's own entropy when one is given, at least 1.
 *
 * N is the planned number of records for exact and compound indexes, and records × expected
 * distinct words per record for word indexes (every word is a posting).
 */
import { InvalidArgumentError } from '../errors.js';

/** Narrowest and widest token the protocol accepts (tokens are integers below 2^48). */
export const MIN_TOKEN_BITS = 1;
export const MAX_TOKEN_BITS = 48;

export interface PlanInput {
  /** Records the collection is planned to hold. */
  readonly records: number;
  /** Indexed values per record: 1 for exact and compound indexes, distinct words per record for word indexes. */
  readonly valuesPerRecord?: number;
  /** Sum of the widths of the other indexes over the same field(s) (CipherSweet's existing indexes). */
  readonly otherBits?: number;
  /** Entropy of the transformed input in bits, when it is small (last four digits: log2 10^4 ≈ 13.3). */
  readonly inputBits?: number;
}

export interface Plan {
  /** The token width. */
  readonly bits: number;
  /** The population N the width was planned for. */
  readonly population: number;
  /** Expected values per token, N / 2^(bits + otherBits). */
  readonly coincidences: number;
  /** False candidates a one-token query is expected to return per non-matching value: 2^-bits. */
  readonly falsePositiveRate: number;
  /** Whether 2 ≤ C ≤ √N holds (false when even 1 bit leaves fewer than 2 coincidences, or inputBits capped below the bound). */
  readonly safe: boolean;
}

function positive(n: number | undefined, what: string, fallback: number): number {
  if (n === undefined) return fallback;
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${what} must be a non-negative number`);
  return n;
}

export function planWidth(input: PlanInput): Plan {
  const records = positive(input.records, 'planned records', 0);
  if (records < 1) throw new InvalidArgumentError('planned records must be at least 1');
  const population = Math.max(1, records * positive(input.valuesPerRecord, 'values per record', 1));
  const other = positive(input.otherBits, 'other index bits', 0);
  const log2n = Math.log2(population);
  // C ≥ 2  ⇔  L ≤ log2 N − 1 − S;   C ≤ √N  ⇔  L ≥ log2 N / 2 − S.
  let bits = Math.floor(log2n - 1 - other + 1e-9);
  const lowest = Math.ceil(log2n / 2 - other - 1e-9);
  if (input.inputBits !== undefined) bits = Math.min(bits, Math.ceil(positive(input.inputBits, 'input bits', 0)));
  bits = Math.max(MIN_TOKEN_BITS, Math.min(MAX_TOKEN_BITS, bits));
  const coincidences = population / 2 ** (bits + other);
  const safe = coincidences >= 2 && bits >= lowest;
  return { bits, population, coincidences, falsePositiveRate: 2 ** -bits, safe };
}

/**
 * Whether a collection has outgrown the plan its widths came from: more records than planned
 * (its tokens now coincide more than the plan said, and queries return more false candidates).
 * The SDK then plans for twice the current size and rewrites the tokens.
 */
export function outgrown(plannedRecords: number, currentRecords: number): boolean {
  return currentRecords > plannedRecords;
}
