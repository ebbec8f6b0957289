import { expect, it } from 'vitest';
import { quickstart } from '../../../examples/protocol-quickstart.js';

it('the README quickstart runs as written', async () => {
  const log = await quickstart();
  expect(log[0]).toBe('bob received: hello bob');
  expect(log[1]).toBe('alice received: hi alice');
  expect(log[2]).toMatch(/^safety number: (\d{5} ){11}\d{5} \(matches\)$/);
});
