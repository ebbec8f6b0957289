/**
 * The SDK, loaded on first use. Loading it (the client, the protocol, @noble/*) is most of a
 * command's start-up, so `--help`, `--version` and argument errors answer without it; the
 * command actions that need it await these (docs/BENCHMARKS.md, "CLI start").
 */
let client: Promise<typeof import('@blindrelay/client')> | undefined;
let node: Promise<typeof import('@blindrelay/client/node')> | undefined;

export const loadClient = () => {
  client ??= import('@blindrelay/client');
  return client;
};
export const loadNode = () => {
  node ??= import('@blindrelay/client/node');
  return node;
};
