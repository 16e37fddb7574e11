import type { SpecProblem } from './types.js';

/** How a problem is printed: `linux.namespaces[2].type: unknown namespace "foo"`. */
export function formatProblem(p: SpecProblem): string {
  return `${p.path === '' ? 'config.json' : p.path}: ${p.message}`;
}

const SHOWN = 3;

/** A config.json that is not valid JSON or not a valid OCI spec. Carries every problem found. */
export class SpecError extends Error {
  override readonly name = 'SpecError';
  readonly problems: SpecProblem[];

  constructor(problems: SpecProblem[]) {
    super(summarize(problems));
    this.problems = problems;
  }
}

function summarize(problems: SpecProblem[]): string {
  if (problems.length === 0) return 'config.json: invalid';
  if (problems.length === 1) return formatProblem(problems[0]!);
  const shown = problems.slice(0, SHOWN).map(formatProblem).join('; ');
  const more = problems.length > SHOWN ? ` (and ${problems.length - SHOWN} more)` : '';
  return `config.json: ${problems.length} problems: ${shown}${more}`;
}

export type SysboxSpecErrorCode =
  | 'host-namespace'
  | 'host-network'
  | 'other-container-namespace'
  | 'namespace-path'
  | 'id-mappings'
  | 'device'
  | 'invalid-option';

/**
 * A valid OCI spec that sysbox refuses to run. The message is the one the user sees after Docker's
 * `OCI runtime create failed: ` (DESIGN.md, contract table), so it is fixed text.
 */
export class SysboxSpecError extends Error {
  override readonly name = 'SysboxSpecError';
  readonly code: SysboxSpecErrorCode;

  constructor(code: SysboxSpecErrorCode, detail: string) {
    super(`error in the container spec: invalid or unsupported container spec: ${detail}`);
    this.code = code;
  }
}
