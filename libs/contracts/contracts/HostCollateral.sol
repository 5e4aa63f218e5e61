// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ModelRegistry} from "./ModelRegistry.sol";

/// @title HostCollateral
/// @notice Hosts stake an ERC-20 per (host, model) before they receive a copy. Unstaking is delayed,
/// and unbonding funds stay slashable until withdrawn, so a host cannot run from a violation. The
/// protocol proposes a slash with its evidence; the slashed amount is reserved at once and moves
/// only after the appeal window. A host that appeals in time freezes the slash until the protocol
/// upholds it (executable at once) or dismisses it (the reserve returns to the host's stake). An
/// executed slash pays the prover its bounty and the rest to the model's current owner.
/// @dev The token must move exactly the amounts asked (no fee-on-transfer or rebasing tokens).
contract HostCollateral is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant PROTOCOL_ROLE = keccak256("PROTOCOL_ROLE");
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    uint16 public constant BPS = 10_000;

    enum SlashStatus {
        None,
        Proposed,
        Appealed,
        Upheld,
        Dismissed,
        Executed
    }

    struct Stake {
        uint256 active;
        uint256 unbonding;
        uint64 unbondingReadyAt;
    }

    struct Slash {
        address host;
        uint256 modelId;
        uint256 amount;
        address prover;
        bytes32 evidenceHash;
        uint64 appealDeadline;
        uint16 proverBountyBps;
        SlashStatus status;
    }

    IERC20 public immutable token;
    ModelRegistry public immutable registry;

    uint64 public unstakeDelay;
    uint64 public appealWindow;
    uint16 public proverBountyBps;

    /// @notice Slash ids start at 1.
    uint256 public slashCount;
    mapping(bytes32 evidenceHash => bool) public evidenceUsed;
    mapping(address host => mapping(uint256 modelId => Stake)) private _stakes;
    mapping(uint256 slashId => Slash) private _slashes;

    event Staked(address indexed host, uint256 indexed modelId, uint256 amount, uint256 active);
    event UnstakeRequested(address indexed host, uint256 indexed modelId, uint256 amount, uint64 readyAt);
    event Withdrawn(address indexed host, uint256 indexed modelId, uint256 amount);
    event SlashProposed(
        uint256 indexed slashId,
        address indexed host,
        uint256 indexed modelId,
        uint256 amount,
        address prover,
        bytes32 evidenceHash,
        uint64 appealDeadline
    );
    event SlashAppealed(uint256 indexed slashId, address indexed host);
    event SlashAppealResolved(uint256 indexed slashId, bool upheld);
    event SlashExecuted(
        uint256 indexed slashId, address indexed prover, uint256 proverBounty, address indexed modelOwner, uint256 ownerShare
    );
    event UnstakeDelaySet(uint64 unstakeDelay);
    event AppealWindowSet(uint64 appealWindow);
    event ProverBountySet(uint16 proverBountyBps);

    error ZeroAmount();
    error ZeroAddress();
    error UnknownModel(uint256 modelId);
    error InsufficientStake(uint256 available, uint256 requested);
    error NothingToWithdraw(address host, uint256 modelId);
    error UnstakeNotReady(uint64 readyAt);
    error UnknownSlash(uint256 slashId);
    error EvidenceAlreadyUsed(bytes32 evidenceHash);
    error NotSlashedHost(uint256 slashId, address caller);
    error InvalidSlashStatus(uint256 slashId, SlashStatus status);
    error AppealWindowClosed(uint256 slashId, uint64 appealDeadline);
    error AppealWindowOpen(uint256 slashId, uint64 appealDeadline);
    error InvalidBasisPoints(uint256 bps);

    constructor(
        address admin,
        IERC20 token_,
        ModelRegistry registry_,
        uint64 unstakeDelay_,
        uint64 appealWindow_,
        uint16 proverBountyBps_
    ) {
        if (admin == address(0) || address(token_) == address(0) || address(registry_) == address(0)) revert ZeroAddress();
        if (proverBountyBps_ > BPS) revert InvalidBasisPoints(proverBountyBps_);
        token = token_;
        registry = registry_;
        unstakeDelay = unstakeDelay_;
        appealWindow = appealWindow_;
        proverBountyBps = proverBountyBps_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
        emit UnstakeDelaySet(unstakeDelay_);
        emit AppealWindowSet(appealWindow_);
        emit ProverBountySet(proverBountyBps_);
    }

    // --- hosts ---

    function stake(uint256 modelId, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (!registry.exists(modelId)) revert UnknownModel(modelId);
        Stake storage s = _stakes[msg.sender][modelId];
        s.active += amount;
        emit Staked(msg.sender, modelId, amount, s.active);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Moves `amount` of active stake to unbonding; a new request restarts the delay for
    /// everything unbonding. Unbonding funds stay slashable until withdrawn.
    function requestUnstake(uint256 modelId, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Stake storage s = _stakes[msg.sender][modelId];
        if (amount > s.active) revert InsufficientStake(s.active, amount);
        s.active -= amount;
        s.unbonding += amount;
        s.unbondingReadyAt = uint64(block.timestamp) + unstakeDelay;
        emit UnstakeRequested(msg.sender, modelId, amount, s.unbondingReadyAt);
    }

    function withdraw(uint256 modelId) external nonReentrant {
        Stake storage s = _stakes[msg.sender][modelId];
        uint256 amount = s.unbonding;
        if (amount == 0) revert NothingToWithdraw(msg.sender, modelId);
        if (block.timestamp < s.unbondingReadyAt) revert UnstakeNotReady(s.unbondingReadyAt);
        s.unbonding = 0;
        s.unbondingReadyAt = 0;
        emit Withdrawn(msg.sender, modelId, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice The host of a pending slash contests it; only inside the appeal window.
    function appeal(uint256 slashId) external {
        Slash storage sl = _existing(slashId);
        if (msg.sender != sl.host) revert NotSlashedHost(slashId, msg.sender);
        if (sl.status != SlashStatus.Proposed) revert InvalidSlashStatus(slashId, sl.status);
        if (block.timestamp >= sl.appealDeadline) revert AppealWindowClosed(slashId, sl.appealDeadline);
        sl.status = SlashStatus.Appealed;
        emit SlashAppealed(slashId, msg.sender);
    }

    // --- protocol ---

    /// @notice Reserves `amount` of the host's stake for the model (active first, then unbonding)
    /// and opens the appeal window. One slash per piece of evidence.
    function proposeSlash(address host, uint256 modelId, uint256 amount, address prover, bytes32 evidenceHash)
        external
        onlyRole(PROTOCOL_ROLE)
        returns (uint256 slashId)
    {
        if (amount == 0) revert ZeroAmount();
        if (host == address(0) || prover == address(0)) revert ZeroAddress();
        if (evidenceUsed[evidenceHash]) revert EvidenceAlreadyUsed(evidenceHash);
        Stake storage s = _stakes[host][modelId];
        uint256 available = s.active + s.unbonding;
        if (amount > available) revert InsufficientStake(available, amount);
        uint256 fromActive = amount <= s.active ? amount : s.active;
        s.active -= fromActive;
        s.unbonding -= amount - fromActive;
        evidenceUsed[evidenceHash] = true;
        slashId = ++slashCount;
        uint64 deadline = uint64(block.timestamp) + appealWindow;
        _slashes[slashId] = Slash(host, modelId, amount, prover, evidenceHash, deadline, proverBountyBps, SlashStatus.Proposed);
        emit SlashProposed(slashId, host, modelId, amount, prover, evidenceHash, deadline);
    }

    /// @notice Upholding makes an appealed slash executable at once; dismissing cancels it and
    /// returns the reserve to the host's active stake.
    function resolveAppeal(uint256 slashId, bool uphold) external onlyRole(PROTOCOL_ROLE) {
        Slash storage sl = _existing(slashId);
        if (sl.status != SlashStatus.Appealed) revert InvalidSlashStatus(slashId, sl.status);
        if (uphold) {
            sl.status = SlashStatus.Upheld;
        } else {
            sl.status = SlashStatus.Dismissed;
            _stakes[sl.host][sl.modelId].active += sl.amount;
        }
        emit SlashAppealResolved(slashId, uphold);
    }

    /// @notice Pays out a slash that was not appealed once its window has passed, or an upheld one.
    function executeSlash(uint256 slashId) external onlyRole(PROTOCOL_ROLE) nonReentrant {
        Slash storage sl = _existing(slashId);
        if (sl.status == SlashStatus.Proposed) {
            if (block.timestamp < sl.appealDeadline) revert AppealWindowOpen(slashId, sl.appealDeadline);
        } else if (sl.status != SlashStatus.Upheld) {
            revert InvalidSlashStatus(slashId, sl.status);
        }
        sl.status = SlashStatus.Executed;
        uint256 bounty = (sl.amount * sl.proverBountyBps) / BPS;
        uint256 ownerShare = sl.amount - bounty;
        address modelOwner = registry.ownerOf(sl.modelId);
        address prover = sl.prover;
        emit SlashExecuted(slashId, prover, bounty, modelOwner, ownerShare);
        if (bounty > 0) token.safeTransfer(prover, bounty);
        if (ownerShare > 0) token.safeTransfer(modelOwner, ownerShare);
    }

    // --- governance ---

    function setUnstakeDelay(uint64 delay) external onlyRole(GOVERNANCE_ROLE) {
        unstakeDelay = delay;
        emit UnstakeDelaySet(delay);
    }

    /// @notice Applies to slashes proposed from now on; open windows keep their deadline.
    function setAppealWindow(uint64 window) external onlyRole(GOVERNANCE_ROLE) {
        appealWindow = window;
        emit AppealWindowSet(window);
    }

    /// @notice Applies to slashes proposed from now on.
    function setProverBountyBps(uint16 bps) external onlyRole(GOVERNANCE_ROLE) {
        if (bps > BPS) revert InvalidBasisPoints(bps);
        proverBountyBps = bps;
        emit ProverBountySet(bps);
    }

    // --- views ---

    function stakeOf(address host, uint256 modelId) external view returns (Stake memory) {
        return _stakes[host][modelId];
    }

    function slashOf(uint256 slashId) external view returns (Slash memory) {
        return _slashes[slashId];
    }

    function _existing(uint256 slashId) private view returns (Slash storage sl) {
        sl = _slashes[slashId];
        if (sl.status == SlashStatus.None) revert UnknownSlash(slashId);
    }
}
