import type { MessageFns, MethodTable } from './types.js';

interface GenericDefinition {
  fullName: string;
  methods: Record<string, { name: string; requestType: MessageFns<any>; responseType: MessageFns<any>; requestStream: boolean; responseStream: boolean }>;
}

/** gRPC method table (keyed by the camelCase method name) from a ts-proto generic service definition. */
export function tableOf(def: GenericDefinition): MethodTable {
  const t: MethodTable = {};
  for (const [key, m] of Object.entries(def.methods)) {
    if (m.requestStream || m.responseStream) throw new Error(`${def.fullName}/${m.name}: streaming methods are not supported`);
    t[key] = { path: `/${def.fullName}/${m.name}`, req: m.requestType, res: m.responseType };
  }
  return t;
}
