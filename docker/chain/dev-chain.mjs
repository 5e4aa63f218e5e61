// The chain of docker/compose.yaml (service `chain`, profile `chain`): a stand-in for a real one.
// hardhat's node (chain id 31337, the twenty accounts of hardhat's test mnemonic, 10000 ETH each) with
// the Clopen contracts deployed the way `npm start` deploys them: by account #0, without a token (a
// TestToken is deployed first), PROTOCOL_ROLE and GOVERNANCE_ROLE for account #1 (the incentives
// service's INCENTIVES_PROTOCOL_KEY in docker/.env.example). On a fresh node that gives the addresses
// of CHAIN_CONTRACTS in docker/.env.example; this script refuses to go on if it does not. A block
// every second, as on a real chain, so that time passes (appeal windows are measured by block time).
// The node keeps its state in memory: a restart is a new, empty chain (and the services' chain tables
// then describe one that is gone: `docker compose down -v` starts everything afresh).
//   node docker/chain/dev-chain.mjs            (CHAIN_PORT, default 8545; CHAIN_HOSTNAME, default 0.0.0.0)
import { spawn } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const root = new URL('../..', import.meta.url).pathname;
const port = Number(process.env.CHAIN_PORT ?? 8545);
const hostname = process.env.CHAIN_HOSTNAME ?? '0.0.0.0';
/** Written once the contracts are deployed: the container's health check. */
export const READY_FILE = process.env.CHAIN_READY_FILE ?? '/tmp/clopen-chain-ready';
const MNEMONIC = 'test test test test test test test test test test test junk';
/** What deployClopenContracts gives on a fresh node from account #0 (CHAIN_CONTRACTS in docker/.env.example). */
const EXPECTED = {
  token: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  modelRegistry: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
  hostCollateral: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0',
  usageLedger: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9',
  rewardsVault: '0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9',
};

const log = (message) => process.stdout.write(`chain: ${message}\n`);
rmSync(READY_FILE, { force: true });

const cli = require.resolve('hardhat/internal/cli/bootstrap.js', { paths: [root] });
const node = spawn(
  process.execPath,
  [cli, '--config', join(root, 'libs/testing/hardhat/hardhat.config.cjs'), 'node', '--hostname', hostname, '--port', String(port)],
  {
    cwd: root,
    env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true' },
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
node.on('exit', (code, signal) => {
  rmSync(READY_FILE, { force: true });
  process.exit(code ?? (signal ? 0 : 1));
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => node.kill(signal));

const url = `http://127.0.0.1:${port}`;
const rpc = async (method, params = []) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
};
for (let i = 0; ; i++) {
  if (
    await rpc('eth_chainId').then(
      () => true,
      () => false,
    )
  )
    break;
  if (i > 600) throw new Error(`the hardhat node did not answer on ${url} within a minute`);
  await new Promise((r) => setTimeout(r, 100));
}

const { createPublicClient, createWalletClient, defineChain, http } = require('viem');
const { mnemonicToAccount } = require('viem/accounts');
const { deployClopenContracts, GOVERNANCE_ROLE, hostCollateralAbi } = require('@clopen/contracts');
const chain = defineChain({ id: 31337, name: 'hardhat', nativeCurrency: { name: 'ETH', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } });
const client = createPublicClient({ chain, cacheTime: 0, transport: http(url, { retryCount: 0 }) });
const deployer = createWalletClient({ account: mnemonicToAccount(MNEMONIC, { addressIndex: 0 }), chain, transport: http(url, { retryCount: 0 }) });
const protocol = mnemonicToAccount(MNEMONIC, { addressIndex: 1 }).address;

// the same parameters as npm start (scripts/story-chain.mjs)
const addresses = await deployClopenContracts(deployer, client, {
  protocol,
  unstakeDelaySeconds: 60n,
  appealWindowSeconds: 15n,
  proverBountyBps: 1000,
  shares: { ownerBps: 5000, hostBps: 3000, proverBps: 1000, protocolBps: 1000 },
});
const wrong = Object.entries(EXPECTED).filter(([name, address]) => addresses[name] !== address);
if (wrong.length) {
  log(`the contracts are not where docker/.env.example says (was the node fresh?): ${wrong.map(([n]) => `${n} at ${addresses[n]}`).join(', ')}`);
  node.kill('SIGTERM');
} else {
  // Locally the protocol key also governs, so governance changes go through the incentives API.
  for (const address of [addresses.hostCollateral, addresses.rewardsVault]) {
    await client.waitForTransactionReceipt({
      hash: await deployer.writeContract({ address, abi: hostCollateralAbi, functionName: 'grantRole', args: [GOVERNANCE_ROLE, protocol] }),
    });
  }
  // A block every second from now on (deployment above went a block per transaction).
  await rpc('evm_setIntervalMining', [1000]);
  const head = await client.getBlockNumber();
  log(`contracts deployed by ${deployer.account.address} up to block ${head}; protocol and governance: ${protocol}`);
  log(
    `CHAIN_CONTRACTS=ModelRegistry:${addresses.modelRegistry},HostCollateral:${addresses.hostCollateral},UsageLedger:${addresses.usageLedger},RewardsVault:${addresses.rewardsVault}`,
  );
  writeFileSync(READY_FILE, `${head}\n`);
}
