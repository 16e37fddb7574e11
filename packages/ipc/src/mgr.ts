// sysbox-mgr method table (loaded lazily: the generated code imports @grpc/grpc-js).
import * as m from './gen/mgr.js';
import type { MethodTable } from './rpc.js';

const S = m.MgrService;
export const mgrMethods: MethodTable = {
  register: { path: S.register.path, req: m.RegisterRequest, res: m.RegisterResponse },
  prepareRootfs: { path: S.prepareRootfs.path, req: m.PrepareRootfsRequest, res: m.PrepareRootfsResponse },
  unregister: { path: S.unregister.path, req: m.UnregisterRequest, res: m.UnregisterResponse },
  get: { path: S.get.path, req: m.GetRequest, res: m.ContainerInfo },
  list: { path: S.list.path, req: m.ListRequest, res: m.ListResponse },
  status: { path: S.status.path, req: m.StatusRequest, res: m.StatusResponse },
};
