import { describe, expect, test } from 'vitest';
import { encodeHeaders, encodeInt, HpackDecoder, HpackError } from '../src/hpack.js';

// Header blocks made by an independent HPACK encoder (python-hpack 4.2, Huffman on, one encoder for all four
// blocks, so later blocks refer to the dynamic table entries earlier ones added).
const BLOCKS: Array<[string, Array<[string, string]>]> = [
  [
    '885f901d75d0620d263d4c4d6564ff75d8749f408e9acac8b0c842d6958b510f21aa9b903485a9264fafa90b2d03497ea6f66aff',
    [[':status', '200'], ['content-type', 'application/grpc+proto'], ['grpc-accept-encoding', 'identity,deflate,gzip']],
  ],
  [
    '88bf40889acac8b21234da8f816f40899acac8b5254207317fa821ea48cd516c53c8543214a8e952c2cc6424b616453c1933a88f488cfe56a66b145700957ef2afb3',
    [[':status', '200'], ['content-type', 'application/grpc+proto'], ['grpc-status', '5'], ['grpc-message', 'container x1 is not registered with sysbox-mgr %E2%9C%93']],
  ],
  ['7f0081077f0080', [['grpc-status', '0'], ['grpc-message', '']]],
  [
    '6196d07abe94132a693f75040138a01eb8005c0014c5a37f408825a849e95ba97d7f8925a849e95bb8e8b4bf4084f2b466ab90ffffffcfffe3ffffc7ffbff3fff7ffbf',
    [['date', 'Mon, 23 Nov 2026 08:00:00 GMT'], ['custom-key', 'custom-value'], ['x-bin', '\x7f\xc3\xbf~|{}']], // its UTF-8 bytes, as latin1
  ],
];

describe('HPACK', () => {
  test('decodes an independent encoder\'s blocks: static and dynamic table, Huffman strings', () => {
    const d = new HpackDecoder();
    for (const [hex, want] of BLOCKS) expect(d.decode(Buffer.from(hex, 'hex'))).toEqual(want);
  });

  test('what encodeHeaders writes decodes back (indexed :method/:scheme, literal rest, long values)', () => {
    const h: Array<[string, string]> = [
      [':method', 'POST'], [':scheme', 'http'], [':path', '/sysbox.mgr.v1.Manager/Register'], [':authority', 'localhost'],
      ['content-type', 'application/grpc+proto'], ['te', 'trailers'], ['grpc-timeout', '30000m'], ['x-long', 'v'.repeat(300)],
    ];
    const block = encodeHeaders(h);
    expect(block[0]).toBe(0x83);
    expect(block[1]).toBe(0x86);
    expect(new HpackDecoder().decode(block)).toEqual(h);
  });

  test('integers with a prefix (RFC 7541 C.1)', () => {
    const out: number[] = [];
    encodeInt(10, 5, 0, out);
    encodeInt(1337, 5, 0, out);
    encodeInt(42, 8, 0, out);
    expect(out).toEqual([10, 31, 154, 10, 42]);
  });

  test('malformed input throws HpackError', () => {
    expect(() => new HpackDecoder().decode(Buffer.from([0xff]))).toThrow(HpackError); // truncated integer
    expect(() => new HpackDecoder().decode(Buffer.from([0xc0]))).toThrow('header index 64 out of range');
    expect(() => new HpackDecoder().decode(Buffer.from([0x00, 0x85, 0x61]))).toThrow(HpackError); // truncated string
    // a Huffman string padded with zeros
    expect(() => new HpackDecoder().decode(Buffer.from([0x00, 0x81, 0x00, 0x01, 0x61]))).toThrow(HpackError);
  });

  test('a dynamic table size update evicts', () => {
    const d = new HpackDecoder();
    d.decode(Buffer.from('408825a849e95ba97d7f8925a849e95bb8e8b4bf', 'hex')); // custom-key: custom-value, indexed
    expect(d.decode(Buffer.from([0xbe]))).toEqual([['custom-key', 'custom-value']]);
    expect(() => d.decode(Buffer.from([0x20, 0xbe]))).toThrow('header index 62 out of range');
  });
});
