// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice For local chains and tests only: anyone may mint any amount. Never deploy it where the
/// token must have value.
contract TestToken is ERC20 {
    constructor() ERC20("Clopen Test Token", "CLOPT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
