/**
 * Whole-file convenience over Uint8Array (header || payload, optionally armored). For large
 * files use the header functions and the streaming payload encryptor/decryptor directly.
 */
import { concat } from '../bytes.js';
import type { Primitives } from '../primitives/types.js';
import { armor, dearmor, isArmored } from './armor.js';
import { unwrapHeader, wrapFileKey } from './file-key.js';
import { parseHeader } from './header.js';
import type { AgeIdentity, AgeRecipient } from './stanza.js';
import { createPayloadDecryptor, createPayloadEncryptor } from './stream.js';

export async function encryptPayload(p: Primitives, fileKey: Uint8Array, plaintext: Uint8Array, nonce?: Uint8Array): Promise<Uint8Array> {
  const enc = await createPayloadEncryptor(p, fileKey, nonce);
  return enc.push(plaintext, true);
}

export async function decryptPayload(p: Primitives, fileKey: Uint8Array, payload: Uint8Array): Promise<Uint8Array> {
  return createPayloadDecryptor(p, fileKey).push(payload, true);
}

export async function encryptFile(p: Primitives, plaintext: Uint8Array, recipients: readonly AgeRecipient[]): Promise<Uint8Array> {
  const { fileKey, header } = await wrapFileKey(p, recipients);
  const payload = await encryptPayload(p, fileKey, plaintext);
  fileKey.fill(0);
  return concat(header, payload);
}

export async function encryptFileArmored(p: Primitives, plaintext: Uint8Array, recipients: readonly AgeRecipient[]): Promise<string> {
  return armor(await encryptFile(p, plaintext, recipients));
}

/** Decrypt a binary or armored (auto-detected) age file. */
export async function decryptFile(p: Primitives, file: Uint8Array, identities: readonly AgeIdentity[]): Promise<Uint8Array> {
  const bytes = isArmored(file) ? dearmor(file) : file;
  const header = parseHeader(bytes);
  const fileKey = await unwrapHeader(p, header, identities);
  try {
    return await decryptPayload(p, fileKey, bytes.subarray(header.length));
  } finally {
    fileKey.fill(0);
  }
}
