// `npm start`: until the relay server lands (packages/server), say what is available.
const lines = [
  'Blindrelay: end-to-end encryption platform',
  '',
  'Available now:',
  '  packages/protocol   PQXDH + Double Ratchet protocol core (Node and browsers)',
  '  npm test            run every test (unit, property, tamper, vectors, browser)',
  '  npm run bench -- protocol   benchmark against @signalapp/libsignal-client',
  '',
  'The relay server (`blindrelay server`), SDK and CLI are not built yet; see docs/ and the issues.',
];
console.log(lines.join('\n'));
