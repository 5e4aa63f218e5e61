// One namespace per proto package: clopen.access.v1 spans two files.
export * from './gen/clopen/access/v1/permission_pb';
export * from './gen/clopen/access/v1/access_pb';
