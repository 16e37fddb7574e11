// sysbox-fs method table, derived from the generated service definition (message codecs only, no gRPC import).
import { FsDefinition } from './gen/fs.js';
import { tableOf } from './table.js';

export const fsMethods = tableOf(FsDefinition);
