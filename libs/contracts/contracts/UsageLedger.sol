// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title UsageLedger
/// @notice Per-epoch commitments the protocol publishes: the Merkle root of the epoch's usage
/// receipts (access's epoch root) and the Merkle root of the fingerprint-assignment commitments in
/// force at the epoch's close (distribution's). A root, once written, can never be changed, so a
/// proof checked against it today holds tomorrow.
contract UsageLedger is AccessControl {
    bytes32 public constant PROTOCOL_ROLE = keccak256("PROTOCOL_ROLE");

    struct UsageCommitment {
        bytes32 receiptRoot;
        uint64 receiptCount;
        uint64 committedAt;
    }

    mapping(uint64 epoch => UsageCommitment) private _usage;
    mapping(uint64 epoch => bytes32) public assignmentRoot;

    event UsageRootCommitted(uint64 indexed epoch, bytes32 receiptRoot, uint64 receiptCount);
    event AssignmentRootCommitted(uint64 indexed epoch, bytes32 assignmentRoot);

    error ZeroRoot();
    error UsageRootAlreadyWritten(uint64 epoch);
    error AssignmentRootAlreadyWritten(uint64 epoch);

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    function commitUsageRoot(uint64 epoch, bytes32 receiptRoot, uint64 receiptCount) external onlyRole(PROTOCOL_ROLE) {
        if (receiptRoot == bytes32(0)) revert ZeroRoot();
        if (_usage[epoch].receiptRoot != bytes32(0)) revert UsageRootAlreadyWritten(epoch);
        _usage[epoch] = UsageCommitment(receiptRoot, receiptCount, uint64(block.timestamp));
        emit UsageRootCommitted(epoch, receiptRoot, receiptCount);
    }

    function commitAssignmentRoot(uint64 epoch, bytes32 root) external onlyRole(PROTOCOL_ROLE) {
        if (root == bytes32(0)) revert ZeroRoot();
        if (assignmentRoot[epoch] != bytes32(0)) revert AssignmentRootAlreadyWritten(epoch);
        assignmentRoot[epoch] = root;
        emit AssignmentRootCommitted(epoch, root);
    }

    function usageOf(uint64 epoch) external view returns (UsageCommitment memory) {
        return _usage[epoch];
    }
}
