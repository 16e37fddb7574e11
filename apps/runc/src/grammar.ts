// runc's grammar (./cli.ts) as a C header for the front door (native/csrc/sysbox-runc.c), which parses the command
// line only as far as it must to pick a path (engine, create server, Node) and leaves the rest, errors included, to
// ./cli.ts. Written by `pnpm --filter @sysbox/runc gen:grammar` (test/grammar.test.ts with SYSBOX_WRITE_GRAMMAR=1),
// and that test fails when the committed header differs from what this renders.
import { COMMANDS, GLOBAL_FLAGS, type FlagDef } from './cli.js';

/** The verbs whose flags the front door needs: the ones it serves itself, or hands to the create server. */
export const FRONT_DOOR_VERBS = ['create', 'exec', 'start', 'kill', 'delete'] as const;

function table(name: string, defs: readonly FlagDef[]): string {
  const rows = defs.flatMap((d) => d.names.map((n) => `    {"${n}", "${d.names[0]}", ${d.value ? 1 : 0}},`));
  return [`static const struct runc_flag ${name}[] = {`, ...rows, '    {0, 0, 0},', '};'].join('\n');
}

export function renderGrammarHeader(): string {
  const parts = [
    '// runc\'s command-line grammar for the front door: generated from apps/runc/src/cli.ts by apps/runc/src/grammar.ts',
    '// (`pnpm --filter @sysbox/runc gen:grammar`). Do not edit: apps/runc/test/grammar.test.ts diffs it.',
    '#pragma once',
    '',
    '// name: a flag name or alias, without dashes; flag: the flag it names (its first name); value: 1 if it takes a',
    '// value (`--name v` or `--name=v`)',
    'struct runc_flag {',
    '  const char *name;',
    '  const char *flag;',
    '  int value;',
    '};',
    '',
    table('RUNC_GLOBAL_FLAGS', GLOBAL_FLAGS),
  ];
  for (const verb of FRONT_DOOR_VERBS) parts.push('', table(`RUNC_${verb.toUpperCase()}_FLAGS`, COMMANDS[verb]!));
  return parts.join('\n') + '\n';
}
