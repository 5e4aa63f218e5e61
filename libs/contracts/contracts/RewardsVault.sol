// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @title RewardsVault
/// @notice Users deposit fees for a model. Per epoch the protocol posts an allocation: a Merkle root
/// over what each account may claim, computed off-chain from the epoch's usage with the governance
/// shares below, and its total, which may not exceed the deposits not yet allocated. Each account
/// claims once per epoch with a proof.
///
/// Leaf encoding (OpenZeppelin StandardMerkleTree's, types ["address", "uint256"]):
///   leaf = keccak256(bytes.concat(keccak256(abi.encode(account, amount))))
/// Inner nodes hash their two children in sorted order (OpenZeppelin MerkleProof). An account
/// appears at most once per epoch: its shares from every role and model are summed into one leaf.
/// @dev The token must move exactly the amounts asked (no fee-on-transfer or rebasing tokens).
contract RewardsVault is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant PROTOCOL_ROLE = keccak256("PROTOCOL_ROLE");
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    uint16 public constant BPS = 10_000;

    /// @notice How an epoch's fees are split; the allocation root is computed with them off-chain.
    struct Shares {
        uint16 ownerBps;
        uint16 hostBps;
        uint16 proverBps;
        uint16 protocolBps;
    }

    struct Allocation {
        bytes32 root;
        uint256 total;
        uint256 claimed;
    }

    IERC20 public immutable token;
    ModelRegistry public immutable registry;

    uint256 public totalDeposited;
    uint256 public totalAllocated;
    mapping(uint256 modelId => uint256) public depositedFor;
    mapping(uint64 epoch => mapping(address account => bool)) public claimed;
    mapping(uint64 epoch => Allocation) private _allocations;
    Shares private _shares;

    event FeesDeposited(uint256 indexed modelId, address indexed payer, uint256 amount);
    event AllocationPosted(uint64 indexed epoch, bytes32 root, uint256 total);
    event Claimed(uint64 indexed epoch, address indexed account, uint256 amount);
    event SharesSet(uint16 ownerBps, uint16 hostBps, uint16 proverBps, uint16 protocolBps);

    error ZeroAmount();
    error ZeroAddress();
    error ZeroRoot();
    error UnknownModel(uint256 modelId);
    error SharesDoNotSum(uint256 total);
    error AllocationAlreadyPosted(uint64 epoch);
    error AllocationExceedsDeposits(uint256 total, uint256 unallocated);
    error UnknownAllocation(uint64 epoch);
    error AlreadyClaimed(uint64 epoch, address account);
    error InvalidProof(uint64 epoch, address account, uint256 amount);
    error ClaimExceedsAllocation(uint64 epoch, uint256 remaining, uint256 amount);

    constructor(address admin, IERC20 token_, ModelRegistry registry_, Shares memory shares_) {
        if (admin == address(0) || address(token_) == address(0) || address(registry_) == address(0)) revert ZeroAddress();
        token = token_;
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
        _setShares(shares_);
    }

    function deposit(uint256 modelId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (!registry.exists(modelId)) revert UnknownModel(modelId);
        depositedFor[modelId] += amount;
        totalDeposited += amount;
        emit FeesDeposited(modelId, msg.sender, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function postAllocation(uint64 epoch, bytes32 root, uint256 total) external onlyRole(PROTOCOL_ROLE) {
        if (root == bytes32(0)) revert ZeroRoot();
        if (total == 0) revert ZeroAmount();
        if (_allocations[epoch].root != bytes32(0)) revert AllocationAlreadyPosted(epoch);
        uint256 unallocated = totalDeposited - totalAllocated;
        if (total > unallocated) revert AllocationExceedsDeposits(total, unallocated);
        totalAllocated += total;
        _allocations[epoch] = Allocation(root, total, 0);
        emit AllocationPosted(epoch, root, total);
    }

    /// @notice Anyone may submit the claim; the tokens always go to `account`.
    function claim(uint64 epoch, address account, uint256 amount, bytes32[] calldata proof) external nonReentrant {
        Allocation storage a = _allocations[epoch];
        if (a.root == bytes32(0)) revert UnknownAllocation(epoch);
        if (claimed[epoch][account]) revert AlreadyClaimed(epoch, account);
        if (!MerkleProof.verifyCalldata(proof, a.root, allocationLeaf(account, amount))) {
            revert InvalidProof(epoch, account, amount);
        }
        // Guards the vault against a root whose leaves add up to more than its posted total.
        if (amount > a.total - a.claimed) revert ClaimExceedsAllocation(epoch, a.total - a.claimed, amount);
        claimed[epoch][account] = true;
        a.claimed += amount;
        emit Claimed(epoch, account, amount);
        token.safeTransfer(account, amount);
    }

    function setShares(Shares calldata shares_) external onlyRole(GOVERNANCE_ROLE) {
        _setShares(shares_);
    }

    function shares() external view returns (Shares memory) {
        return _shares;
    }

    function allocationOf(uint64 epoch) external view returns (Allocation memory) {
        return _allocations[epoch];
    }

    function allocationLeaf(address account, uint256 amount) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
    }

    function _setShares(Shares memory s) private {
        uint256 total = uint256(s.ownerBps) + s.hostBps + s.proverBps + s.protocolBps;
        if (total != BPS) revert SharesDoNotSum(total);
        _shares = s;
        emit SharesSet(s.ownerBps, s.hostBps, s.proverBps, s.protocolBps);
    }
}
