export { createServiceDataSource, migrateServiceSchema, openServiceDataSource } from './data-source';
export type { ServiceDataSourceOptions, Migration } from './data-source';
