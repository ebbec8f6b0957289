// Before the tests: the packages' JavaScript (dist/) from the current sources, so the CLI's
// end-to-end tests run the built command a user installs (packages/cli/test/harness.ts), not the
// sources through tsx (about a third of a spawn's start-up, and most of those tests' time).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const build = fileURLToPath(new URL('./build.mjs', import.meta.url));
  execFileSync(process.execPath, [build, '--js'], { stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '' } });
}
