/** A QR code on a canvas (uqr's encoder, ISO/IEC 18004), with the quiet zone of 4 modules the standard asks for. */
import { encode } from 'uqr';
import { h } from './dom.js';

export function qrCanvas(text: string, testid: string, scale = 4): HTMLCanvasElement {
  const qr = encode(text, { ecc: 'M', border: 0 });
  const quiet = 4;
  const side = (qr.size + 2 * quiet) * scale;
  const canvas = h('canvas', { testid, class: 'qr', title: 'scan with another device' });
  canvas.width = side;
  canvas.height = side;
  canvas.dataset.text = text;
  const g = canvas.getContext('2d');
  if (!g) return canvas;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, side, side);
  g.fillStyle = '#000';
  qr.data.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) g.fillRect((x + quiet) * scale, (y + quiet) * scale, scale, scale);
    });
  });
  return canvas;
}
