export * from './generated';
export { deployClopenContracts, clopenContracts, testTokenContract, DEFAULT_ADMIN_ROLE, PROTOCOL_ROLE, GOVERNANCE_ROLE, BASIS_POINTS } from './deploy';
export type { ClopenDeployParams, ClopenAddresses, RewardShares } from './deploy';
export { AllocationTree, allocationLeaf, verifyAllocationProof, type AllocationEntry } from './allocation';
export { contractRevert, type ContractRevert } from './errors';
export { chainContractsSetting, CLOPEN_CONTRACT_NAMES, type ClopenContractName } from './settings';
