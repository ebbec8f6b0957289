/** Which Chromium the browser tests drive (DEVELOPERS.md: BLINDRELAY_CHROMIUM, else Debian's /usr/bin/chromium). */
import { accessSync, constants } from 'node:fs';

export function findChromium(): string | undefined {
  const candidates = [process.env.BLINDRELAY_CHROMIUM, '/usr/bin/chromium'].filter((c): c is string => !!c);
  return candidates.find((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'];
