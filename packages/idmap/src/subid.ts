import { IdmapError } from './errors.js';

/** One `name:start:count` line of /etc/subuid or /etc/subgid. */
export interface SubidEntry {
  /** user name (or numeric uid, as the file allows) */
  user: string;
  /** first subordinate id */
  start: number;
  /** number of ids */
  count: number;
  /** 1-based line number in the parsed text */
  line: number;
}

/** Highest id usable in a range plus one: (uid_t)-1 is reserved by the kernel. */
export const MAX_ID = 0xffffffff;
/** Where new entries start when the file is empty (as shadow's useradd does). */
export const FIRST_SUBID = 100000;
/** Size of the entry ensureSubidEntry creates: 4096 ranges of 65536. */
export const DEFAULT_SUBID_SIZE = 268435456;

function isUint(s: string): boolean {
  return /^[0-9]+$/.test(s);
}

/**
 * Parses /etc/subuid or /etc/subgid text. Blank lines and `#` comments are skipped.
 * Throws IdmapError('BAD_SUBID') naming the line for a malformed entry.
 */
export function parseSubid(text: string, source = 'subid file'): SubidEntry[] {
  const out: SubidEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const parts = raw.split(':');
    const [user, start, count] = parts;
    if (parts.length !== 3 || !user || !start || !count || !isUint(start) || !isUint(count)) {
      throw new IdmapError('BAD_SUBID', `${source} line ${i + 1}: expected "name:start:count", got "${raw}"`);
    }
    const s = Number(start);
    const c = Number(count);
    if (s + c > MAX_ID + 1) {
      throw new IdmapError('BAD_SUBID', `${source} line ${i + 1}: range ${s}+${c} goes past the largest id ${MAX_ID}`);
    }
    out.push({ user, start: s, count: c, line: i + 1 });
  }
  return out;
}

/**
 * The first entry for `user` (by name, or by numeric uid when `uid` is given), or undefined.
 * Throws on malformed text.
 */
export function findSubidEntry(text: string, user = 'sysbox', uid?: number, source?: string): SubidEntry | undefined {
  return parseSubid(text, source).find((e) => e.user === user || (uid !== undefined && e.user === String(uid)));
}

/**
 * Returns `text` with an entry `user:start:size` appended, placed after every existing entry
 * (no overlap with any of them), or `text` unchanged if `user` already has an entry.
 * Throws IdmapError('BAD_SUBID') if the text is malformed or no room is left below 2^32-1.
 */
export function ensureSubidEntry(text: string, user = 'sysbox', size = DEFAULT_SUBID_SIZE, source?: string): string {
  if (!Number.isInteger(size) || size <= 0) throw new IdmapError('INVALID', `subid entry size must be a positive integer, got ${size}`);
  if (!user || user.includes(':') || /\s/.test(user)) throw new IdmapError('INVALID', `invalid subid user name "${user}"`);
  const entries = parseSubid(text, source);
  if (entries.some((e) => e.user === user)) return text;
  const start = entries.reduce((max, e) => Math.max(max, e.start + e.count), FIRST_SUBID);
  if (start + size > MAX_ID) {
    throw new IdmapError(
      'BAD_SUBID',
      `${source ?? 'subid file'}: no room for ${size} ids for "${user}" after the existing entries (they end at ${start})`,
    );
  }
  const prefix = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return `${prefix}${user}:${start}:${size}\n`;
}
