/**
 * `blindrelay records …` and `blindrelay search`: encrypted records with blind indexes
 * (packages/client/src/records/, docs/SEARCH.md). Every command takes --json.
 *
 *   records put COLLECTION JSON [--index SPEC]... [--planned N]   prints the record id
 *   records get COLLECTION ID
 *   records find COLLECTION FIELD=VALUE...                        one JSON object per line with --json
 *   records rm COLLECTION ID
 *   records share COLLECTION USER / records unshare COLLECTION USER
 *   records ls
 *   search WORDS...                                               message history
 *
 * An index SPEC is FIELD[+FIELD...][:exact|word|compound][:TRANSFORM[,TRANSFORM...]], e.g.
 * `email:exact:lower`, `ssn:exact:last4`, `note:word`, `first+last:compound:lower`. The first
 * `put` into a new COLLECTION creates it with the given indexes; later --index options add
 * indexes (the owner's client then indexes the stored records).
 */
import type { BlindrelayClient, CollectionSummary, Condition, IndexDeclaration } from '@blindrelay/client';
import { InvalidArgumentError } from '@blindrelay/client/errors';
import type { Transform } from '@blindrelay/protocol';
import type { Command } from 'commander';
import type { CliIo } from './cli.js';
import type { Output } from './output.js';

interface RecordsCommandContext {
  io: CliIo;
  output(cmd: Command): Output;
  open(cmd: Command): Promise<BlindrelayClient>;
  displayText(text: string): string;
}

const KINDS = ['exact', 'word', 'compound'] as const;

/** Parse one --index SPEC (see the header); throws InvalidArgumentError. */
export function parseIndexSpec(spec: string, TRANSFORMS: readonly Transform[]): IndexDeclaration {
  const [fieldsPart, kindPart, transformPart, ...rest] = spec.split(':');
  if (!fieldsPart || rest.length > 0) throw new InvalidArgumentError(`--index ${spec}: expected FIELD[+FIELD...][:exact|word|compound][:TRANSFORM,...]`);
  const fields = fieldsPart.split('+');
  if (fields.some((f) => f.length === 0)) throw new InvalidArgumentError(`--index ${spec}: an empty field name`);
  const kind = (kindPart || (fields.length > 1 ? 'compound' : 'exact')) as IndexDeclaration['kind'];
  if (!(KINDS as readonly string[]).includes(kind)) throw new InvalidArgumentError(`--index ${spec}: the kind is exact, word or compound`);
  const transforms = transformPart ? transformPart.split(',') : [];
  for (const t of transforms) {
    if (!(TRANSFORMS as readonly string[]).includes(t))
      throw new InvalidArgumentError(`--index ${spec}: unknown transformation ${t} (${TRANSFORMS.join(', ')})`);
  }
  return { kind, fields, transforms: transforms as Transform[] };
}

/** FIELD=VALUE (the value is text; the first "=" splits). */
export function parseCondition(text: string): Condition {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`${text}: expected FIELD=VALUE`);
  return { field: text.slice(0, eq), value: text.slice(eq + 1) };
}

function parseRecord(json: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new InvalidArgumentError('the record is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError('the record must be a JSON object');
  return value as Record<string, unknown>;
}

const collectionJson = (c: CollectionSummary) => ({
  id: c.id,
  name: c.name,
  owner: c.owner,
  members: c.members,
  epoch: c.epoch,
  records: c.recordCount,
  plannedRecords: c.plannedRecords,
  outgrown: c.outgrown,
  indexes: c.indexes.map((i) => ({ name: i.name, kind: i.kind, fields: i.parts.map((p) => p.field), transforms: i.parts[0]?.transforms ?? [], bits: i.bits })),
});

async function collectionOf(client: BlindrelayClient, name: string): Promise<CollectionSummary | undefined> {
  try {
    return await client.describeCollection(name);
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_COLLECTION_UNKNOWN') return undefined;
    throw e;
  }
}

export function registerRecordsCommands(program: Command, c: RecordsCommandContext): void {
  const records = program.command('records').description('encrypted records with blind indexes: put, get, find, rm, share, unshare, ls');

  records
    .command('put')
    .description('encrypt a JSON record and store it (the first put creates the collection); prints its id')
    .argument('<collection>', 'collection name (yours, or OWNER/NAME, or its id)')
    .argument('<json>', 'the record, a JSON object')
    .option(
      '--index <spec>',
      'index FIELD[+FIELD...][:exact|word|compound][:TRANSFORM,...] (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--planned <n>', 'records the collection is planned to hold (sets token widths; new collections only)', '10000')
    .option('--id <id>', 'replace the record with this id')
    .action(async (collection: string, json: string, opts: { index: string[]; planned: string; id?: string }, cmd: Command) => {
      const out = c.output(cmd);
      const record = parseRecord(json);
      const { TRANSFORMS } = await import('@blindrelay/protocol');
      const indexes = opts.index.map((spec) => parseIndexSpec(spec, TRANSFORMS));
      const planned = Number(opts.planned);
      if (!Number.isSafeInteger(planned) || planned < 1) throw new InvalidArgumentError('--planned: a positive integer');
      const client = await c.open(cmd);
      const existing = await collectionOf(client, collection);
      if (!existing) {
        if (collection.includes('/')) throw new InvalidArgumentError(`no collection ${collection} on this device`);
        await client.createCollection(collection, { indexes, plannedRecords: planned });
      } else if (indexes.length > 0) {
        await client.addIndexes(collection, indexes);
      }
      const id = await client.putRecord(collection, record as never, opts.id === undefined ? {} : { id: opts.id });
      out.result({ id, collection }, id);
      // The owner's put re-plans by itself (SDK putRecord); a member's cannot: the owner's next put will.
      const now = await client.describeCollection(collection);
      if (now.outgrown && now.owner !== client.user && !out.json) {
        out.note(
          `note: ${collection} holds more records than its token widths were planned for (${now.plannedRecords}); ${now.owner}'s next write re-plans it`,
        );
      }
    });

  records
    .command('get')
    .description('fetch and decrypt one record')
    .argument('<collection>', 'collection name, OWNER/NAME or id')
    .argument('<id>', 'record id (one that starts with "-" goes after --, as in: get NAME -- -AbC)')
    .action(async (collection: string, id: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const record = await client.getRecord(collection, id);
      out.result({ id, record }, c.displayText(JSON.stringify(record)));
    });

  records
    .command('find')
    .description('records whose fields match every FIELD=VALUE (exact, compound or word indexes); one JSON object per line with --json')
    .argument('<collection>', 'collection name, OWNER/NAME or id')
    .argument('<conditions...>', 'FIELD=VALUE')
    .action(async (collection: string, conditions: string[], _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const parsed = conditions.map(parseCondition);
      const client = await c.open(cmd);
      const r = await client.findRecords(collection, parsed);
      for (const f of r.records) out.line({ id: f.id, record: f.record }, `${f.id}  ${c.displayText(JSON.stringify(f.record))}`);
      if (!out.json) out.note(`${r.records.length} record(s) (${r.candidates} candidate(s) from the relay, false positives dropped)`);
    });

  records
    .command('rm')
    .description('delete a record')
    .argument('<collection>', 'collection name, OWNER/NAME or id')
    .argument('<id>', 'record id (one that starts with "-" goes after --, as in: get NAME -- -AbC)')
    .action(async (collection: string, id: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      await client.removeRecord(collection, id);
      out.result({ id, deleted: true }, `deleted ${id}`);
    });

  records
    .command('share')
    .description("let USER read and write the collection (its keys go to USER's devices end to end)")
    .argument('<collection>', 'your collection')
    .argument('<user>', 'the new member')
    .action(async (collection: string, user: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const s = await client.shareCollection(collection, user);
      out.result(collectionJson(s), `shared ${c.displayText(s.name)} with ${user}`);
    });

  records
    .command('unshare')
    .description('remove USER and re-key the collection for later writes')
    .argument('<collection>', 'your collection')
    .argument('<user>', 'the member to remove')
    .action(async (collection: string, user: string, _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const s = await client.unshareCollection(collection, user);
      out.result(collectionJson(s), `removed ${user} from ${c.displayText(s.name)}; re-keyed (epoch ${s.epoch})`);
    });

  records
    .command('replan')
    .description(
      "re-plan the token widths now (default: for twice the records held) and re-index every record (owner only; the owner's puts also re-plan by themselves once the collection outgrows its plan)",
    )
    .argument('<collection>', 'your collection')
    .option('--planned <n>', 'records to plan for')
    .action(async (collection: string, opts: { planned?: string }, cmd: Command) => {
      const out = c.output(cmd);
      const planned = opts.planned === undefined ? undefined : Number(opts.planned);
      if (planned !== undefined && (!Number.isSafeInteger(planned) || planned < 1)) throw new InvalidArgumentError('--planned: a positive integer');
      const client = await c.open(cmd);
      const s = await client.replanCollection(collection, planned);
      out.result(
        collectionJson(s),
        `re-planned ${c.displayText(s.name)} for ${s.plannedRecords} records: ${s.indexes.map((i) => `${i.name} ${i.bits} bits`).join(', ')}`,
      );
    });

  records
    .command('sync-keys')
    .description('send every collection key this device holds to your other devices (e.g. one linked since)')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const n = await client.resendCollectionKeys();
      out.result({ collections: n }, `sent the keys of ${n} collection(s) to your other devices`);
    });

  records
    .command('ls')
    .description('collections this device holds keys of')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      const all = await client.listCollections();
      out.result(
        { collections: all.map(collectionJson) },
        all.map(
          (s) =>
            `${s.id}  ${c.displayText(s.name)}  (${s.owner === client.user ? 'yours' : `from ${s.owner}`}, ${s.recordCount} records, ${s.indexes.length} indexes)`,
        ),
      );
    });

  program
    .command('search')
    .description('search your message history (sent and received, on any of your devices) for messages with every WORD; one JSON object per line with --json')
    .argument('<words...>', 'words the message must contain (any order, case-folded)')
    .action(async (words: string[], _opts: unknown, cmd: Command) => {
      const out = c.output(cmd);
      const client = await c.open(cmd);
      // Messages are indexed when sent and when received (`blindrelay receive`): run it first for the newest.
      const found = await client.searchHistory(words.join(' '));
      for (const m of found) {
        out.line(
          { id: m.id, from: m.from, to: m.to, text: m.text, sentAt: m.sentAt },
          `${new Date(m.sentAt).toISOString()}  ${m.from} → ${m.to}: ${c.displayText(m.text)}`,
        );
      }
      if (!out.json && found.length === 0) out.note('(no matching messages)');
    });
}
