export { testInfra, suiteId, createTestDatabase, createTestBusNamespace, startTestS3, createTestRedisPrefix, serviceEnv, TEST_ADMIN_KEY } from './infra';
export type { TestDatabase, TestBusNamespace, TestS3 } from './infra';
export { eventually } from './wait';
export { spawnService, freePort, type ServiceProcess } from './process';
export { api } from './http';
export { startHardhatNode, type HardhatNode } from './hardhat';
export { deployedChain, type DeployedChain } from './chain';
export { licenseHost, endLicence, type TestLicence } from './licences';
export { READY_TIMEOUT_MS, EVENTUALLY_TIMEOUT_MS, TEST_TIMEOUT_MS, TRAINING_JOB_TIMEOUT_MS } from './limits';
