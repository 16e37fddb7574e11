// sysbox-fs method table (loaded lazily: the generated code imports @grpc/grpc-js).
import * as f from './gen/fs.js';
import type { MethodTable } from './rpc.js';

const S = f.FsService;
export const fsMethods: MethodTable = {
  register: { path: S.register.path, req: f.RegisterRequest, res: f.RegisterResponse },
  unregister: { path: S.unregister.path, req: f.UnregisterRequest, res: f.UnregisterResponse },
  status: { path: S.status.path, req: f.StatusRequest, res: f.StatusResponse },
};
