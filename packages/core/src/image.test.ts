import { describe, expect, it } from 'vitest';
import { decodePng, encodeGrid, encodeScatter } from './image.js';

describe('image grids', () => {
  it('lays out images in a grid with padding and maps the range to 0..255', () => {
    // 3 images of 2×2 grey: values -1 (black), 0 (mid) and 1 (white).
    const data = new Float32Array([-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1]);
    const png = decodePng(encodeGrid({ data, n: 3, h: 2, w: 2, c: 1, range: [-1, 1] }, { cols: 2, pad: 1 }));
    expect(png.width).toBe(2 * 3 + 1);
    expect(png.height).toBe(2 * 3 + 1);
    const px = (x: number, y: number) => png.data[(y * png.width + x) * 4]!;
    expect(px(1, 1)).toBe(0); // image 0
    expect(px(4, 1)).toBe(128); // image 1: round(127.5)
    expect(px(1, 4)).toBe(255); // image 2
    expect(px(0, 0)).toBe(0); // padding
  });

  it('draws RGB and clamps out-of-range values', () => {
    const data = new Float32Array([2, 0.5, -3]);
    const png = decodePng(encodeGrid({ data, n: 1, h: 1, w: 1, c: 3, range: [0, 1] }, { pad: 0 }));
    expect(Array.from(png.data.subarray(0, 4))).toEqual([255, 128, 0, 255]);
  });

  it('refuses other channel counts', () => {
    expect(() => encodeGrid({ data: new Float32Array(2), n: 1, h: 1, w: 1, c: 2, range: [0, 1] })).toThrow(/channels/);
  });
});

describe('scatter plots', () => {
  it('puts points where their coordinates say, y up, centres as crosses', () => {
    const png = decodePng(encodeScatter({ points: [1, 1, -1, -1], range: [-2, 2], centres: [[-1, 1]], pad: 0 }, 101));
    const px = (x: number, y: number) => Array.from(png.data.subarray((y * 101 + x) * 4, (y * 101 + x) * 4 + 3));
    // x = 1 → column 75; y = 1 → row 100 - 75 = 25.
    expect(px(75, 25)).toEqual([30, 90, 200]);
    expect(px(25, 75)).toEqual([30, 90, 200]);
    expect(px(25, 25)).toEqual([220, 30, 30]);
    expect(px(10, 90)).toEqual([255, 255, 255]);
  });
});
