/**
 * Request validation with TypeBox's compiler instead of Ajv, for three reasons:
 * - bodies are checked strictly: no type coercion, no silent removal of unknown properties
 *   (Fastify's Ajv defaults do both), so `{"deviceId": "7"}` and extra fields are 400s;
 * - query strings and path parameters are converted first (`?limit=10` is a string on the wire),
 *   strictly: only a plain decimal integer becomes a number (TypeBox's Value.Convert would turn
 *   `1.5` into 1), anything else stays a string and fails the check;
 * - error messages are built here from the schema only. TypeBox reports an unknown property with
 *   its name in the path; that name is submitted data, so it is cut from the message.
 * A request without a body is validated as `{}`.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import type { FastifySchemaCompiler } from 'fastify';

const UNKNOWN_KEY_ERRORS = new Set<ValueErrorType>([ValueErrorType.ObjectAdditionalProperties]);

/** A JSON pointer into the schema's structure, safe to show: array indices and declared keys. */
function describe(type: ValueErrorType, path: string, message: string): { instancePath: string; message: string } {
  if (UNKNOWN_KEY_ERRORS.has(type)) return { instancePath: path.slice(0, path.lastIndexOf('/')), message: 'unexpected property' };
  return { instancePath: path, message: message.length > 200 ? `${message.slice(0, 200)}…` : message };
}

const DECIMAL_INTEGER = /^-?(0|[1-9][0-9]{0,15})$/;

/** Query strings and path parameters are flat objects of strings; convert integer-typed ones. */
function convertStrings(schema: TSchema, input: unknown): unknown {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return input;
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const type = properties[key]?.type;
    out[key] = (type === 'integer' || type === 'number') && typeof value === 'string' && DECIMAL_INTEGER.test(value) ? Number(value) : value;
  }
  return out;
}

export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  return (input: unknown) => {
    let value = input;
    if (httpPart === 'body') value = input === undefined || input === null ? {} : input;
    else value = convertStrings(schema, input);
    if (check.Check(value)) return { value };
    const first = check.Errors(value).First();
    const err = first ? describe(first.type, first.path, first.message) : { instancePath: '', message: 'invalid' };
    return {
      error: [{ keyword: 'schema', instancePath: err.instancePath, schemaPath: '', params: {}, message: err.message }],
    };
  };
};
