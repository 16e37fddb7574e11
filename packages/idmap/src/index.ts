export { IdmapError, RangeExhaustedError, type IdmapErrorCode } from './errors.js';
export { parseSubid, findSubidEntry, ensureSubidEntry, MAX_ID, FIRST_SUBID, DEFAULT_SUBID_SIZE, type SubidEntry } from './subid.js';
export {
  RangeAllocator,
  DEFAULT_RANGE_SIZE,
  type IdRange,
  type IdPool,
  type AllocatorOptions,
  type AllocatorState,
  type AllocatorStats,
} from './allocator.js';
export { MemoryStore, type Store } from './store.js';
