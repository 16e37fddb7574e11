// sysbox-mgr method table, derived from the generated service definition (message codecs only, no gRPC import).
import { MgrDefinition } from './gen/mgr.js';
import { tableOf } from './table.js';

export const mgrMethods = tableOf(MgrDefinition);
