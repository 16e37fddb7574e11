// HPACK (RFC 7541), as much as a gRPC client needs: encoding request headers as literals (no dynamic table
// entries, no Huffman), and decoding whatever a server sends (static and dynamic table, Huffman strings).

/** RFC 7541 Appendix A. */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/**
 * The Huffman code of RFC 7541 Appendix B is canonical, so the code length of each symbol (0–255, 256 = EOS)
 * defines it. One character per symbol: 'a' + (length - 5).
 */
const HUFFMAN_LENGTHS =
  'isxxxxxxxtzxxzxxxxxxxxzxxxxxxxxxbffhibdgffdgdbbbaaabbbbbbbcdkbhfibccccccccccccccccccccccdcdioijbkabababbbaccbbbabcbaabccccckgjixprpprrrsrssssststtrstssssqrsrsstrqprrssqsrrtqrssqqrqsrssprrrsrrsvvporsruvvvwwvtuoqvwwvwtqqvvxwwwptpqrqqsrruuttvsvwvvwwwwwxwwwwwvz';

interface Canonical {
  /** per length: the first code of that length, how many codes have it, where its symbols start in `symbols` */
  first: number[];
  count: number[];
  offset: number[];
  symbols: number[];
}

let huffman: Canonical | undefined;
function canonical(): Canonical {
  if (huffman) return huffman;
  const len = [...HUFFMAN_LENGTHS].map((c) => c.charCodeAt(0) - 97 + 5);
  const symbols = len.map((_, s) => s).sort((a, b) => len[a]! - len[b]! || a - b);
  const first: number[] = [];
  const count: number[] = [];
  const offset: number[] = [];
  let code = 0;
  let prev = 0;
  symbols.forEach((s, i) => {
    const l = len[s]!;
    if (i > 0) code = (code + 1) * 2 ** (l - prev);
    prev = l;
    if (count[l] === undefined) {
      first[l] = code;
      count[l] = 0;
      offset[l] = i;
    }
    count[l]!++;
  });
  huffman = { first, count, offset, symbols };
  return huffman;
}

export class HpackError extends Error {
  override name = 'HpackError';
}

function huffmanDecode(b: Uint8Array): string {
  const { first, count, offset, symbols } = canonical();
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of b) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const c = count[len];
      if (c !== undefined && code - first[len]! < c && code >= first[len]!) {
        const sym = symbols[offset[len]! + code - first[len]!]!;
        if (sym === 256) throw new HpackError('Huffman string contains EOS');
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > 30) {
        throw new HpackError('bad Huffman code');
      }
    }
  }
  // padding: fewer than 8 bits, all ones (a prefix of EOS)
  if (len > 7 || code !== 2 ** len - 1) throw new HpackError('bad Huffman padding');
  return Buffer.from(out).toString('latin1');
}

export function encodeInt(value: number, prefixBits: number, firstByte: number, out: number[]): void {
  const max = 2 ** prefixBits - 1;
  if (value < max) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function encodeString(s: string, out: number[]): void {
  const b = Buffer.from(s, 'latin1');
  encodeInt(b.length, 7, 0, out);
  for (const x of b) out.push(x);
}

/**
 * A header block of literal fields without indexing (static-table names where there is one). `:method POST`
 * and `:scheme http` are indexed (static 3 and 6).
 */
export function encodeHeaders(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const full = STATIC.findIndex(([n, v]) => n === name && v === value && v !== '');
    if (full >= 0) {
      encodeInt(full + 1, 7, 0x80, out);
      continue;
    }
    const idx = STATIC.findIndex(([n]) => n === name);
    if (idx >= 0) {
      encodeInt(idx + 1, 4, 0x00, out);
    } else {
      out.push(0x00);
      encodeString(name, out);
    }
    encodeString(value, out);
  }
  return Buffer.from(out);
}

/** The decoding side of one connection (its dynamic table lives as long as the connection). */
export class HpackDecoder {
  private dynamic: Array<[string, string]> = [];
  private size = 0;
  constructor(private maxSize = 4096) {}

  private entry(i: number): readonly [string, string] {
    if (i >= 1 && i <= STATIC.length) return STATIC[i - 1]!;
    const d = this.dynamic[i - STATIC.length - 1];
    if (!d) throw new HpackError(`header index ${i} out of range`);
    return d;
  }

  private evict(): void {
    while (this.size > this.maxSize && this.dynamic.length) {
      const [n, v] = this.dynamic.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }

  private add(name: string, value: string): void {
    this.dynamic.unshift([name, value]);
    this.size += name.length + value.length + 32;
    this.evict();
  }

  decode(block: Uint8Array): Array<[string, string]> {
    let p = 0;
    const int = (prefixBits: number): number => {
      if (p >= block.length) throw new HpackError('truncated header block');
      const max = 2 ** prefixBits - 1;
      let v = block[p++]! & max;
      if (v < max) return v;
      let m = 1;
      for (;;) {
        if (p >= block.length) throw new HpackError('truncated integer');
        const b = block[p++]!;
        v += (b & 127) * m;
        m *= 128;
        if (!(b & 128)) return v;
        if (m > 2 ** 28) throw new HpackError('integer too large');
      }
    };
    const str = (): string => {
      if (p >= block.length) throw new HpackError('truncated string');
      const h = block[p]! & 0x80;
      const n = int(7);
      if (p + n > block.length) throw new HpackError('truncated string');
      const raw = block.subarray(p, p + n);
      p += n;
      return h ? huffmanDecode(raw) : Buffer.from(raw).toString('latin1');
    };
    const out: Array<[string, string]> = [];
    while (p < block.length) {
      const b = block[p]!;
      if (b & 0x80) {
        const [n, v] = this.entry(int(7));
        out.push([n, v]);
      } else if (b & 0x40) {
        const i = int(6);
        const name = i ? this.entry(i)[0] : str();
        const value = str();
        this.add(name, value);
        out.push([name, value]);
      } else if (b & 0x20) {
        this.maxSize = int(5);
        this.evict();
      } else {
        const i = int(4);
        const name = i ? this.entry(i)[0] : str();
        out.push([name, str()]);
      }
    }
    return out;
  }
}
