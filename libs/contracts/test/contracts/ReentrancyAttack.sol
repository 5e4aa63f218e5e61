// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test only. An ERC-20 that, like ERC-777, calls the recipient back on every transfer to a
/// contract, giving a malicious recipient control in the middle of the sender's function.
contract HookedTestToken is ERC20 {
    constructor() ERC20("Hooked Test Token", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (to.code.length > 0 && from != address(0)) {
            // The recipient's failure is its own business: a plain receiver has no hook at all.
            (bool ok,) = to.call(abi.encodeWithSignature("onTokenReceived(address,uint256)", from, value));
            ok;
        }
    }
}

/// @notice Test only. A host or claimant contract that, when paid, calls the paying contract again
/// with prepared calldata and records how that attempt ended.
contract ReentrantActor {
    address public target;
    bytes public reentryCall;
    bool public armed;
    bool public reentrySucceeded;
    bytes public reentryError;
    uint256 public hooksRun;

    /// @notice Calls `to` as this contract (approve, stake, withdraw…), bubbling up a revert.
    function act(address to, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function arm(address target_, bytes calldata data) external {
        target = target_;
        reentryCall = data;
        armed = true;
    }

    function onTokenReceived(address, uint256) external {
        hooksRun += 1;
        if (!armed) return;
        armed = false;
        (bool ok, bytes memory ret) = target.call(reentryCall);
        reentrySucceeded = ok;
        reentryError = ret;
    }
}
