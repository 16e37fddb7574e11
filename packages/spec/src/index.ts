export type * from './types.js';
export { validateSpec, parseSpec, type ValidateResult } from './validate.js';
export { SpecError, SysboxSpecError, formatProblem, type SysboxSpecErrorCode } from './errors.js';
export {
  applySysboxRules,
  isKnownHostNamespacePath,
  hostNamespacesMessage,
  otherContainerNamespacesMessage,
  HOST_NETWORK_MESSAGE,
  type HostNamespaceCheck,
  type NamespaceFacts,
  type NamespaceInspector,
  type RulesOptions,
} from './rules.js';
export { ALL_CAPS, DOCKER_DEFAULT_CAPS, capsFromMask } from './caps.js';
export { isPrivileged, isUnder } from './util.js';
export { containerOptions, envValue, HONOR_CAPS_ENV, SYSCONT_MODE_ENV, type ContainerOptions, type OptionDefaults } from './options.js';
export * from './modifiers/index.js';
/** A container's ID range (the one type of it, from @sysbox/idmap; on the wire: packages/ipc/proto/idrange.proto). */
export type { IdRange } from '@sysbox/idmap';
