/** Files between the browser and the SDK: a File as a FileSource, and a download into a Blob saved by the browser. */
import type { BlindrelayClient, FileSource, ProgressListener } from '@blindrelay/client';

/** A dropped or chosen File, read in slices (Blob.slice + stream: never the whole file in one buffer). */
export function browserFile(file: File): FileSource {
  return {
    name: file.name || 'file',
    size: file.size,
    mtimeMs: file.lastModified,
    key: `browser:${file.name}:${file.size}:${file.lastModified}`,
    async *read(position: number): AsyncIterable<Uint8Array> {
      const reader = file.slice(position).stream().getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    },
  };
}

/**
 * Download, decrypt and check a file (the SDK writes only authenticated bytes and fails at the end
 * unless the payload is the one its owner sealed), then hand it to the browser as a download. The
 * plaintext stays in this page's memory until then (a Blob): fine for the sizes a chat carries.
 */
export async function downloadFile(client: BlindrelayClient, id: string, onProgress: ProgressListener): Promise<void> {
  const parts: Uint8Array[] = [];
  let name = 'file';
  await client.getFile(
    id,
    async (meta) => {
      name = meta.name || name;
      return {
        write: async (chunk) => {
          parts.push(chunk.slice());
        },
      };
    },
    onProgress,
  );
  const url = URL.createObjectURL(new Blob(parts as BlobPart[], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
