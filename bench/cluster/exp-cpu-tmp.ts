import { sdkPairs } from '../relay/sdk-pairs.js';
import { measureRelayCpu } from './relay-cpu.js';

const r = await measureRelayCpu({ quick: false, log: (l) => process.stderr.write(`${l}\n`) }, sdkPairs, 10);
console.log(JSON.stringify(r));
