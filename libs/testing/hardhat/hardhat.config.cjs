// The chain startHardhatNode() serves: hardhat's own network with its defaults (chain id 31337,
// twenty accounts from the standard test mnemonic funded with 10000 ETH each, a block per
// transaction). Nothing to compile and no forking, so the node runs offline.
module.exports = {
  networks: { hardhat: { chainId: 31337 } },
};
