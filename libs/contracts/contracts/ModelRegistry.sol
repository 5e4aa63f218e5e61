// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title ModelRegistry
/// @notice One ERC-721 token per model: whoever holds the token owns the model, so a transfer is an
/// ownership transfer (and moves future fees and slash shares with it). The owner appends versions,
/// each committing to the artefact (storage's version checksum) and to the licence terms, and sets
/// the fee per request.
contract ModelRegistry is ERC721 {
    struct Version {
        bytes32 artefactHash;
        bytes32 licenceTermsHash;
        uint64 publishedAt;
    }

    /// @notice Ids start at 1, so 0 never names a model.
    uint256 public modelCount;
    mapping(uint256 modelId => uint256) public feePerRequest;
    mapping(uint256 modelId => Version[]) private _versions;

    event ModelRegistered(uint256 indexed modelId, address indexed owner, uint256 feePerRequest);
    event VersionPublished(uint256 indexed modelId, uint256 indexed version, bytes32 artefactHash, bytes32 licenceTermsHash);
    event FeePerRequestSet(uint256 indexed modelId, uint256 feePerRequest);

    error NotModelOwner(uint256 modelId, address caller);
    error UnknownModel(uint256 modelId);
    error UnknownVersion(uint256 modelId, uint256 version);
    error ZeroArtefactHash();

    constructor() ERC721("Clopen Model", "CLOPEN-MODEL") {}

    modifier onlyModelOwner(uint256 modelId) {
        address owner = _ownerOf(modelId);
        if (owner == address(0)) revert UnknownModel(modelId);
        if (owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        _;
    }

    /// @notice Mints a new model token to the caller.
    function registerModel(uint256 fee) external returns (uint256 modelId) {
        modelId = ++modelCount;
        feePerRequest[modelId] = fee;
        // _mint, not _safeMint: the minter is the caller, and no receiver hook runs mid-registration.
        _mint(msg.sender, modelId);
        emit ModelRegistered(modelId, msg.sender, fee);
    }

    /// @notice Appends a version; versions are numbered from 1 and never change once published.
    function publishVersion(uint256 modelId, bytes32 artefactHash, bytes32 licenceTermsHash)
        external
        onlyModelOwner(modelId)
        returns (uint256 version)
    {
        if (artefactHash == bytes32(0)) revert ZeroArtefactHash();
        _versions[modelId].push(Version(artefactHash, licenceTermsHash, uint64(block.timestamp)));
        version = _versions[modelId].length;
        emit VersionPublished(modelId, version, artefactHash, licenceTermsHash);
    }

    function setFeePerRequest(uint256 modelId, uint256 fee) external onlyModelOwner(modelId) {
        feePerRequest[modelId] = fee;
        emit FeePerRequestSet(modelId, fee);
    }

    function exists(uint256 modelId) external view returns (bool) {
        return _ownerOf(modelId) != address(0);
    }

    function versionCount(uint256 modelId) external view returns (uint256) {
        return _versions[modelId].length;
    }

    function versionOf(uint256 modelId, uint256 version) external view returns (Version memory) {
        if (version == 0 || version > _versions[modelId].length) revert UnknownVersion(modelId, version);
        return _versions[modelId][version - 1];
    }
}
